/**
 * Arrow nulls in pin metadata: the id column must be complete (the error names the first null row);
 * nulls in optional fields are missing values, as documented; an embedding table whose first row is null
 * still has its dimension, and a null inside an embedding is an error, not a 0.
 */
import { describe, expect, it } from 'vitest';
import {
  Dictionary, Field, FixedSizeList, Float32, Float64, Int32, Int64, Table, Utf8, makeData, makeVector, vectorFromArray,
} from 'apache-arrow';
import { InvalidParameterError } from '../../src/core/errors.js';
import { ArrowPinMetadata } from '../../src/ranking/metadata.js';
import { thrown } from '../helpers/thrown.js';

const DIM = 2;
const embType = new FixedSizeList(DIM, new Field('x', new Float32(), true));


describe('ArrowPinMetadata and nulls', () => {
  it('a null id names the column and row', () => {
    for (const [name, vec, row] of [
      ['id', vectorFromArray(['a', 'b', null], new Utf8()), 2],
      ['pin', vectorFromArray([null, 1, 2], new Int32()), 0],
    ] as const) {
      const e = thrown(() => new ArrowPinMetadata(new Table({ [name]: vec }), { id: name }));
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect((e as Error).message).toContain(`column "${name}" row ${row}`);
    }
  });

  it('nulls in optional fields are missing (numbers absent, keys null), across record batches', () => {
    const a = new Table({
      id: vectorFromArray(['a', 'b'], new Utf8()),
      category: vectorFromArray(['x', null], new Dictionary(new Utf8(), new Int32())),
      creator: vectorFromArray([null, 'ann'], new Utf8()),
      engagements: vectorFromArray([null, 3], new Int32()),
      impressions: vectorFromArray([10n, null], new Int64()),
      quality: vectorFromArray([0.5, 0.25], new Float64()),
    });
    const b = new Table({
      id: vectorFromArray(['c'], new Utf8()),
      category: vectorFromArray(['y'], new Dictionary(new Utf8(), new Int32())),
      creator: vectorFromArray(['bob'], new Utf8()),
      engagements: vectorFromArray([7], new Int32()),
      impressions: vectorFromArray([null], new Int64()),
      quality: vectorFromArray([null], new Float64()),
    });
    const m = new ArrowPinMetadata(a.concat(b));
    expect(m.get(['a', 'b', 'c'])).toEqual([
      { id: 'a', category: 'x', creator: null, impressions: 10, quality: 0.5 },
      { id: 'b', category: null, creator: 'ann', engagements: 3, quality: 0.25 },
      { id: 'c', category: 'y', creator: 'bob', engagements: 7 },
    ]);
  });

  it('an embedding column whose first row is null still has its dimension', () => {
    const child = vectorFromArray([0, 0, 1, 2, 3, 4], new Float32()).data[0];
    const emb = makeVector(makeData({ type: embType, length: 3, nullCount: 1, nullBitmap: Uint8Array.of(0b110), child }));
    const m = new ArrowPinMetadata(new Table({ id: vectorFromArray(['a', 'b', 'c'], new Utf8()), embedding: emb }));
    expect(m.dim).toBe(DIM);
    expect(m.embedding('a')).toBeUndefined();
    expect(Array.from(m.embedding('b')!)).toEqual([1, 2]);
    expect(Array.from(m.embedding('c')!)).toEqual([3, 4]);
  });

  it('an all-null embedding column has dimension 0 and no embeddings', () => {
    const child = vectorFromArray([0, 0, 0, 0], new Float32()).data[0];
    const emb = makeVector(makeData({ type: embType, length: 2, nullCount: 2, nullBitmap: Uint8Array.of(0), child }));
    const m = new ArrowPinMetadata(new Table({ id: vectorFromArray(['a', 'b'], new Utf8()), embedding: emb }));
    expect(m.embedding('a')).toBeUndefined();
    expect(m.embedding('b')).toBeUndefined();
  });

  it('a null value inside an embedding is an error naming the column and row, not a 0', () => {
    const child = vectorFromArray([1, 2, null, 4, 5, 6], new Float32()).data[0];
    const emb = makeVector({ type: embType, length: 3, nullCount: 0, child });
    const m = new ArrowPinMetadata(new Table({ id: vectorFromArray(['a', 'b', 'c'], new Utf8()), vec: emb }), { embedding: 'vec' });
    expect(Array.from(m.embedding('a')!)).toEqual([1, 2]);
    const e = thrown(() => m.embedding('b'));
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect((e as Error).message).toContain('column "vec" row 1');
    expect(Array.from(m.embedding('c')!)).toEqual([5, 6]);
  });
});
