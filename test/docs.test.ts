/**
 * Every ```ts / ```typescript block of README.md and docs/*.md runs as written: each is a standalone program
 * (imports of `pinrec…` point at src/), run with `node --import tsx` (shell blocks with bash, `npx pinrec` being this repository's command) in a
 * fresh temp folder, and must exit 0.
 * One test per block, named `<file>:<line>`; a block marked `<!-- docs-test: skip (reason) -->` (or whose
 * `env` need is missing) is reported as skipped with its reason. Markers: test/docs/blocks.ts.
 * Run just this: `npx vitest run test/docs.test.ts`; one block by hand: `node --import tsx scripts/doc-blocks.ts docs/ann.md:12`.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docFiles, extractBlocks } from './docs/blocks.js';
import { BLOCK_DIR, blockEnv, describeFailure, limiter, runBlock } from './docs/run.js';

rmSync(BLOCK_DIR, { recursive: true, force: true }); // no stale programs from blocks that moved

const env = blockEnv();
const limit = limiter(Number(process.env.PINREC_DOCS_CONCURRENCY ?? 2));

for (const file of docFiles()) {
  const blocks = extractBlocks(file, undefined, env);
  describe.concurrent(file, () => {
    if (blocks.length === 0) it.skip(`${file}: no TypeScript blocks`, () => {});
    for (const block of blocks) {
      const name = `${block.file}:${block.line}`;
      if (block.skip) {
        it.skip(`${name} — skipped: ${block.skip}`, () => {});
        continue;
      }
      // the vitest timeout also covers waiting for a free slot; the block's own timeout is enforced on the child
      it(name, async () => {
        const r = await limit(() => runBlock(block, { env }));
        if (r.code !== 0) expect.fail(describeFailure(block, r));
      }, 30 * 60_000);
    }
  });
}

describe('doc block extraction', () => {
  const md = [
    '# x', '```sh', 'npm test', '```',
    '<!-- docs-test: skip (needs network: downloads a model) -->', '```ts', "import { Rng } from 'pinrec';", '```',
    '<!-- docs-test: env PINREC_NOPE_UNSET; timeout 5 -->', '```typescript', 'const a = 1;', '```',
    '```ts', "const m = await import('pinrec/cf');", "export { HnswIndex } from 'pinrec/ann';", '```',
    '```', 'not code', '```',
  ].join('\n');
  const blocks = extractBlocks('x.md', md, {});
  it('finds ts/typescript and sh/bash fences, with the fence line and the markers', () => {
    expect(blocks.map((b) => [b.line, b.lang, b.skip, b.timeoutS])).toEqual([
      [2, 'sh', undefined, 120], [6, 'ts', 'needs network: downloads a model', 120], [10, 'typescript', 'needs PINREC_NOPE_UNSET (not set)', 5], [13, 'ts', undefined, 120],
    ]);
  });
  it('points pinrec imports at src/', async () => {
    const { rewriteImports } = await import('./docs/blocks.js');
    const code = rewriteImports(blocks[3].code);
    expect(code).toMatch(/import\('file:\/\/.*\/src\/cf\/index\.ts'\)/);
    expect(code).toMatch(/from 'file:\/\/.*\/src\/ann\/index\.ts'/);
    expect(() => rewriteImports("import x from 'pinrec/nope';")).toThrow(/unknown pinrec subpath/);
  });
});
