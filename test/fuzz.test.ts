/**
 * Quick fuzz budget inside `npm test`: every entry point's properties with a fixed seed and a small number
 * of cases (fast-check shrinks a failure to a minimal input). The long budget is `npm run fuzz`
 * (test/fuzz/run.ts). Known, unfixed bugs are steered around here (test/fuzz/known.ts).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { ENTRY_POINTS } from './fuzz/entries.js';
import { runCase } from './fuzz/harness.js';

const SEED = 20240601;

describe('fuzz (quick budget)', () => {
  for (const ep of ENTRY_POINTS) {
    it(ep.name, async () => {
      await fc.assert(
        fc.asyncProperty(ep.arb(true), async (input) => {
          const r = await runCase(ep, input);
          if (r.outcome !== 'ok') throw new Error(`${r.outcome}: ${r.detail}`);
        }),
        { seed: SEED, numRuns: ep.quickRuns, endOnFailure: false },
      );
    });
  }
});
