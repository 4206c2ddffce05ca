/** Shared input generators: ids, garbage, numbers at the edges, prototype-polluting objects. */
import fc from 'fast-check';

/** Lone surrogates and strings built from them. */
export const loneSurrogate = fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a\uD800', '\uDC00b', '\uDFFF\uD800');

/** Strings that are Object.prototype members or otherwise special. */
export const protoName = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '0', '', 'length');

/** A valid id: string (incl. lone surrogates and prototype names), finite number, or bigint. */
export const validId = (quick: boolean, avoidSurrogates = false): fc.Arbitrary<string | number | bigint> => fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 3 }) },
  { weight: 3, arbitrary: fc.integer({ min: -3, max: 12 }) },
  { weight: 2, arbitrary: fc.bigInt({ min: -3n, max: 12n }) },
  { weight: 1, arbitrary: fc.constantFrom<string | number | bigint>(-0, 0.5, 2 ** 53, 1e308, Number.MIN_VALUE, -(2n ** 100n), 2n ** 64n) },
  { weight: 1, arbitrary: protoName },
  { weight: avoidSurrogates || quick ? 0 : 1, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }).filter((s) => !avoidSurrogates || !/[\uD800-\uDFFF]/.test(s)) },
);

/** Values that are not ids. */
export const garbage: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  NaN, Infinity, -Infinity, null, undefined, true, {}, [], () => 1, Symbol('s'), new Date(0), Object.create(null), /x/,
);

/** Mostly valid ids, sometimes garbage. */
export const anyId = (quick: boolean, garbageWeight = 1): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 30, arbitrary: validId(quick) }, { weight: garbageWeight, arbitrary: garbage });

/** Numbers at every edge. */
export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, 1, -1, 0.5, NaN, Infinity, -Infinity, 1e-30, 1e30, 1e-45, 3.4028234663852886e38, 3.5e38, 1e308, Number.MAX_VALUE, -1e30, Number.EPSILON, 2 ** 31, 2 ** 53),
);

/** A non-negative finite weight across many magnitudes. */
export const magnitudeWeight: fc.Arbitrary<number> = fc.oneof(
  fc.double({ min: 0, max: 10, noNaN: true }),
  fc.tuple(fc.double({ min: 0.1, max: 1, noNaN: true }), fc.constantFrom(1e-30, 1e-10, 1, 1e10, 1e30)).map(([a, b]) => a * b),
);

/** A count-like option: n, k, limit... including every bad value. */
export const countOption = (max: number): fc.Arbitrary<unknown> => fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max }) },
  { weight: 2, arbitrary: fc.constantFrom(1e9, 2 ** 31, Number.MAX_SAFE_INTEGER) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(0, -1, 1.5, NaN, Infinity, -Infinity, '3', null, 3n, undefined) },
);

/** An object parsed from JSON with an own "__proto__" key (what a JSON config or request body can carry). */
export const jsonProtoObject: fc.Arbitrary<Record<string, unknown>> = fc.constantFrom(
  '{"__proto__": {"0": 1, "polluted": 1}}',
  '{"__proto__": {"0": 1}, "x": 0.5}',
  '{"x": 0.25, "__proto__": 7}',
  '{"constructor": {"prototype": {"polluted": 1}}, "y": 1}',
  '{"toString": 1, "__proto__": null}',
  '{}',
).map((s) => JSON.parse(s) as Record<string, unknown>);

/** An iterable of ids in some form, or garbage instead of one. */
export function idCollection<T>(ids: fc.Arbitrary<T>, maxLength = 6): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.array(ids, { maxLength }) },
    { weight: 3, arbitrary: fc.array(ids, { maxLength }).map((a) => new Set(a)) },
    { weight: 1, arbitrary: fc.array(ids, { maxLength }).map((a) => new Map(a.map((x) => [x, 1]))) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>('abc', '', 5, null, {}, { length: 2, 0: 'a', 1: 'b' }, true, NaN) },
  );
}

/** Object.is-based equality of ids. */
export const sameId = (a: unknown, b: unknown): boolean => a === b || Object.is(a, b) || (a === 0 && b === 0);
