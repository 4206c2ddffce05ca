/**
 * Run the TypeScript blocks of README.md and docs/*.md the way test/docs.test.ts does, and print a summary.
 *
 *   node --import tsx scripts/doc-blocks.ts                   # every block (2 at a time)
 *   node --import tsx scripts/doc-blocks.ts docs/ann.md       # one file
 *   node --import tsx scripts/doc-blocks.ts README.md:29      # one block (the line of its opening fence)
 *   ... --list        list the blocks and their markers without running them
 *   ... --keep        keep every block's working folder (printed)
 */
import { docFiles, extractBlocks } from '../test/docs/blocks.js';
import { blockEnv, describeFailure, limiter, runBlock } from '../test/docs/run.js';

const argv = process.argv.slice(2);
const list = argv.includes('--list');
const keep = argv.includes('--keep');
const wanted = argv.filter((a) => !a.startsWith('--'));
const env = blockEnv();
const blocks = docFiles().flatMap((f) => extractBlocks(f, undefined, env))
  .filter((b) => wanted.length === 0 || wanted.some((w) => w === b.file || w === `${b.file}:${b.line}`));
if (blocks.length === 0) {
  console.error(`no blocks match ${wanted.join(' ')}`);
  process.exit(2);
}
if (list) {
  for (const b of blocks) console.log(`${b.file}:${b.line}${b.skip ? `  (skip: ${b.skip})` : ''}${b.env.length ? `  env ${b.env.join(',')}` : ''}`);
  process.exit(0);
}
const limit = limiter(Number(process.env.PINREC_DOCS_CONCURRENCY ?? 2));
let failed = 0, passed = 0, skipped = 0;
await Promise.all(blocks.map((b) => limit(async () => {
  if (b.skip) { skipped++; console.log(`SKIP ${b.file}:${b.line} — ${b.skip}`); return; }
  const r = await runBlock(b, { env, keep });
  if (r.code === 0) { passed++; console.log(`ok   ${b.file}:${b.line} (${(r.ms / 1000).toFixed(1)} s)${keep ? `  cwd ${r.cwd}` : ''}`); }
  else { failed++; console.log(`FAIL ${describeFailure(b, r, 3000)}\n`); }
})));
console.log(`doc blocks: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
