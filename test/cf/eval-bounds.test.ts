import { describe, expect, it } from 'vitest';
import { SvdRecommender, evaluate, interactionsFromColumns, leaveLastOut, syntheticInteractions } from '../../src/cf/index.js';
import { InvalidParameterError } from '../../src/core/errors.js';

describe('evaluate at its bounds', () => {
  const split = leaveLastOut(syntheticInteractions({ users: 200, items: 80, events: 3000, seed: 9 }));
  const model = new SvdRecommender({ factors: 8 }).fit(split.train);
  it('k or negatives far beyond the catalogue are clamped (no huge allocation, no endless sampling)', () => {
    const all = evaluate(model, split, { k: 80 });
    expect(evaluate(model, split, { k: 1e9 })).toEqual(all);
    const sampled = evaluate(model, split, { protocol: 'sampled', negatives: 1e9 });
    expect(sampled.hr).toBeGreaterThan(0);
    expect(Number.isFinite(sampled.ndcg)).toBe(true);
  });
  it('a split with no evaluated user is a typed error, not NaN metrics', () => {
    const tiny = leaveLastOut(interactionsFromColumns({ users: ['a', 'b', 'c'], items: ['x', 'y', 'z'] }));
    expect(tiny.testUsers.length).toBe(0);
    expect(() => evaluate(model, tiny)).toThrow(InvalidParameterError);
    expect(() => evaluate(model, tiny)).toThrow(/at least one evaluated user/);
    expect(() => evaluate(model, null as never)).toThrow(/split must be/);
  });
});
