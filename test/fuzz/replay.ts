/** Rerun one long-mode case: node --import tsx test/fuzz/replay.ts <entry> <seed> <i> */
import { ENTRY_POINTS } from './entries.js';
import { generateCase, runCase, show } from './harness.js';

const [name, seed, i] = process.argv.slice(2);
const ep = ENTRY_POINTS.find((e) => e.name === name);
if (!ep) { console.error(`unknown entry point ${name}; one of: ${ENTRY_POINTS.map((e) => e.name).join(', ')}`); process.exit(2); }
const input = generateCase(ep.arb(false), Number(seed), Number(i));
console.log('input:', show(input, 20_000));
const r = await runCase(ep, input);
console.log(r);
process.exit(r.outcome === 'ok' ? 0 : 1);
