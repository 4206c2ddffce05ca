/**
 * Long-mode child: runs cases [start, end) of one entry point and reports each to the parent over IPC
 * (`start` before a case, `done` after), so the parent can tell a crash or a sync hang from a finished case.
 * Usage (normally spawned by run.ts): node --import tsx test/fuzz/worker.ts <entry> <seed> <start> <end>
 */
import { ENTRY_POINTS } from './entries.js';
import { generateCase, runCase, show } from './harness.js';

const [name, seedS, startS, endS] = process.argv.slice(2);
const ep = ENTRY_POINTS.find((e) => e.name === name);
if (!ep || !process.send) {
  console.error(`worker: unknown entry point ${name} (or not started with an IPC channel)`);
  process.exit(2);
}
const seed = Number(seedS), start = Number(startS), end = Number(endS);
const arb = ep.arb(false);
const send = (m: unknown) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
for (let i = start; i < end; i++) {
  const input = generateCase(arb, seed, i);
  process.send({ type: 'start', i });
  const r = await runCase(ep, input);
  if (r.outcome === 'ok') process.send({ type: 'done', i, outcome: 'ok' });
  else await send({ type: 'done', i, outcome: r.outcome, detail: r.detail, input: show(input) });
  // hnswlib-node's native memory (~2.5 MB per index) is invisible to V8, which therefore rarely collects the
  // thousands of indexes a fuzz child creates: collect every 200 cases and let native finalizers run, as a
  // long-lived service's event loop does (see the README's Reliability section).
  if ((i - start) % 200 === 199) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setImmediate(r));
  }
}
await send({ type: 'end' });
process.exit(0);
