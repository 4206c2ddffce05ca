/**
 * Long fuzz: every entry point in its own child process (a native crash kills the child, not the run).
 * Prints per entry point the cases run, crashes, hangs, untyped errors and wrong answers, then one summary
 * line; exits 1 when any count is non-zero.
 *
 *   npm run fuzz                       # 10,000 cases per entry point, seed 1
 *   npm run fuzz -- --runs 2000 --seed 7 --only svd --jobs 2 --examples 3
 *
 * Case i of an entry point is generated from (seed, i) alone, so a reported case reruns by itself:
 *   node --import tsx test/fuzz/replay.ts <entry> <seed> <i>
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ENTRY_POINTS } from './entries.js';
import { CASE_TIMEOUT_MS } from './harness.js';

const args = process.argv.slice(2);
const opt = (flag: string, def: string): string => { const i = args.indexOf(flag); return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def; };
const RUNS = Number(opt('--runs', '10000'));
const SEED = Number(opt('--seed', '1'));
const ONLY = opt('--only', '');
const JOBS = Math.max(1, Number(opt('--jobs', '1')));
const EXAMPLES = Number(opt('--examples', '3'));
/** A case whose child sends nothing for this long is a hang (a sync infinite loop cannot time itself out). */
const WATCHDOG_MS = CASE_TIMEOUT_MS * 3;
const MAX_RESTARTS = 200;
const worker = fileURLToPath(new URL('./worker.ts', import.meta.url));

interface Counts { cases: number; crashes: number; hangs: number; untyped: number; wrong: number; examples: string[]; ms: number; aborted?: string }

function runEntry(name: string): Promise<Counts> {
  const c: Counts = { cases: 0, crashes: 0, hangs: 0, untyped: 0, wrong: 0, examples: [], ms: 0 };
  const t0 = performance.now();
  const example = (kind: string, i: number, text: string) => { if (c.examples.filter((e) => e.startsWith(kind)).length < EXAMPLES) c.examples.push(`${kind} #${i}: ${text}`); };
  let restarts = 0;
  return new Promise((resolve) => {
    const launch = (from: number) => {
      if (from >= RUNS) { c.ms = performance.now() - t0; resolve(c); return; }
      const child = fork(worker, [name, String(SEED), String(from), String(RUNS)], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
      let current = -1, finished = false, killedForHang = false;
      let timer: NodeJS.Timeout | undefined;
      const arm = () => { if (timer) clearTimeout(timer); timer = setTimeout(() => { killedForHang = true; child.kill('SIGKILL'); }, WATCHDOG_MS); };
      arm();
      child.on('message', (m: { type: string; i: number; outcome?: string; detail?: string; input?: string }) => {
        arm();
        if (m.type === 'start') current = m.i;
        else if (m.type === 'done') {
          current = -1;
          c.cases++;
          if (m.outcome === 'untyped') { c.untyped++; example('untyped', m.i, `${m.detail}\n      input: ${m.input}`); }
          else if (m.outcome === 'wrong') { c.wrong++; example('wrong', m.i, `${m.detail}\n      input: ${m.input}`); }
          else if (m.outcome === 'hang') { c.hangs++; example('hang', m.i, `${m.detail}\n      input: ${m.input}`); }
        } else if (m.type === 'end') finished = true;
      });
      child.on('exit', (code, signal) => {
        if (timer) clearTimeout(timer);
        if (finished) { c.ms = performance.now() - t0; resolve(c); return; }
        const at = current >= 0 ? current : from + 0;
        c.cases++;
        if (killedForHang) { c.hangs++; example('hang', at, `no progress for ${WATCHDOG_MS} ms (sync hang); child killed`); }
        else { c.crashes++; example('crash', at, `child exited (code ${code}, signal ${signal}) ${stderr.trim().split('\n').slice(-5).join(' | ')}`); }
        if (++restarts > MAX_RESTARTS) { c.aborted = `stopped after ${MAX_RESTARTS} restarts`; c.ms = performance.now() - t0; resolve(c); return; }
        launch(at + 1);
      });
    };
    launch(0);
  });
}

const selected = ENTRY_POINTS.filter((e) => !ONLY || e.name.includes(ONLY));
if (selected.length === 0) { console.error(`fuzz: no entry point matches ${ONLY}`); process.exit(2); }
console.log(`fuzz: ${selected.length} entry points, ${RUNS} cases each, seed ${SEED}, ${JOBS} job(s)`);
const results = new Map<string, Counts>();
const queue = selected.map((e) => e.name);
await Promise.all(Array.from({ length: Math.min(JOBS, queue.length) }, async () => {
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const c = await runEntry(name);
    results.set(name, c);
    console.log(`${name}: ${c.cases} cases, ${c.crashes} crashes, ${c.hangs} hangs, ${c.untyped} untyped errors, ${c.wrong} wrong answers (${(c.ms / 1000).toFixed(1)} s)${c.aborted ? ` [${c.aborted}]` : ''}`);
    for (const e of c.examples) console.log(`    ${e}`);
  }
}));
const tot = { cases: 0, crashes: 0, hangs: 0, untyped: 0, wrong: 0 };
for (const c of results.values()) { tot.cases += c.cases; tot.crashes += c.crashes; tot.hangs += c.hangs; tot.untyped += c.untyped; tot.wrong += c.wrong; }
console.log(`fuzz: ${tot.cases} cases, ${tot.crashes} crashes, ${tot.hangs} hangs, ${tot.untyped} untyped errors, ${tot.wrong} wrong answers`);
process.exit(tot.crashes + tot.hangs + tot.untyped + tot.wrong > 0 ? 1 : 0);
