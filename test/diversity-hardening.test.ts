/** Diversity (hardening): candidate indices are validated, never passed through. */
import { describe, expect, it } from 'vitest';
import { applySlidingWindow, selectWithCaps, selectWithWindow } from '../src/diversity/index.js';
import { InvalidParameterError } from '../src/core/errors.js';

function thrown(f: () => unknown): InvalidParameterError {
  try { f(); } catch (e) { if (e instanceof InvalidParameterError) return e; throw e; }
  throw new Error('did not throw');
}

const BAD: unknown[] = [-1, 0.5, NaN, null, undefined, '1', Infinity, 1n];

describe('selectWithCaps validates indices', () => {
  const cats = ['a', 'b', 'c', 'd'];
  it.each(BAD.map((v) => [v]))('rejects %s, naming the position and the value', (bad) => {
    for (const [c, r] of [[cats, cats], [undefined, undefined], [cats, undefined]] as const) {
      const e = thrown(() => selectWithCaps([0, 1, bad as number, 2], c, r));
      expect(e.parameter).toBe('order[2]');
      expect(Object.is(e.value, bad)).toBe(true);
    }
  });
  it('rejects out-of-range and repeated indices', () => {
    expect(thrown(() => selectWithCaps([0, 4], cats, cats)).parameter).toBe('order[1]');
    expect(thrown(() => selectWithCaps([0, 1, 0], cats, cats)).parameter).toBe('order[2]');
    expect(thrown(() => selectWithCaps([3, 3], undefined, undefined)).parameter).toBe('order[1]');
    expect(thrown(() => selectWithCaps(5 as never, cats, cats)).parameter).toBe('order');
  });
  it('still accepts good input', () => {
    expect(selectWithCaps([3, 2, 1, 0], cats, cats).selected).toEqual([3, 2, 1, 0]);
    expect(selectWithCaps([1, 0], undefined, undefined).selected).toEqual([1, 0]);
  });
});

describe('selectWithWindow / applySlidingWindow validate their input', () => {
  const keys = [['a', 'a', 'b', 'b']];
  it.each(BAD.map((v) => [v]))('selectWithWindow rejects index %s', (bad) => {
    const e = thrown(() => selectWithWindow([0, bad as number, 1], keys));
    expect(e.parameter).toBe('order[1]');
    expect(Object.is(e.value, bad)).toBe(true);
  });
  it('rejects out-of-range and repeated indices, bad key lists and options', () => {
    expect(thrown(() => selectWithWindow([0, 9], keys)).parameter).toBe('order[1]');
    expect(thrown(() => selectWithWindow([0, 2, 0], keys)).parameter).toBe('order[2]');
    expect(thrown(() => selectWithWindow([0], [null as never])).parameter).toBe('keyLists[0]');
    expect(thrown(() => selectWithWindow([0], keys, null as never)).parameter).toBe('options');
    expect(thrown(() => selectWithWindow(null as never, keys)).parameter).toBe('order');
    expect(thrown(() => applySlidingWindow([{ category: 'a' }], {}, 'category' as never)).parameter).toBe('by');
    expect(thrown(() => applySlidingWindow([{ category: 'a' }], null as never)).parameter).toBe('options');
    // Like applyCaps, an item without keys (even null) is never held back.
    expect(applySlidingWindow([null as never, { category: 'a' }], {}).items).toEqual([null, { category: 'a' }]);
  });
  it('still accepts good input', () => {
    expect(selectWithWindow([0, 1, 2, 3], keys, { window: 2, maxPerWindow: 1 }).selected).toEqual([0, 2, 1, 3]);
    expect(applySlidingWindow([{ category: 'a' }, { category: 'a' }, { category: 'b' }], { window: 2 }).items.map((x) => x.category)).toEqual(['a', 'b', 'a']);
  });
});
