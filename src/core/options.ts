/**
 * One table of option rules per class, shared by its constructor and its `load`: the constructor resolves a
 * caller's options through the table (typed errors naming the option), and `load` runs the header of a saved
 * file through the same table, so a file can never hold options the constructor would have refused.
 */
import { InvalidParameterError } from './errors.js';
import { checkBool, checkInt, checkNumber, checkOneOf } from './validate.js';

/** A rule for one option: its type, range and default (absent default: required). */
export type OptionRule =
  | { readonly int: readonly [number, number]; readonly default?: number }
  | { readonly number: readonly [number, number]; readonly default?: number }
  | { readonly oneOf: readonly string[]; readonly default?: string }
  | { readonly bool: true; readonly default?: boolean };

/** A table of rules, one per option. */
export type OptionRules = Readonly<Record<string, OptionRule>>;

/** The options a table resolves to (numbers, strings, booleans by rule). */
export type ResolvedOptions<R extends OptionRules> = {
  -readonly [K in keyof R]: R[K] extends { oneOf: readonly (infer S)[] } ? S : R[K] extends { bool: true } ? boolean : number;
};

/**
 * Resolve `options` through `rules`: defaults filled in, every value checked. Options not in the table are
 * left out of the result (the caller handles them).
 *
 * @throws {InvalidParameterError} naming the option, its rule and the value
 * @example
 * const RULES = { dim: { int: [1, 65536] }, ef: { int: [1, 1 << 20], default: 50 } } as const;
 * resolveOptions(RULES, { dim: 8 }); // { dim: 8, ef: 50 }
 */
export function resolveOptions<R extends OptionRules>(rules: R, options: unknown): ResolvedOptions<R> {
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  const src = options as Record<string, unknown>;
  const out: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(rules)) {
    const rule = rules[name];
    const given = Object.hasOwn(src, name) ? src[name] : undefined;
    const v = given === undefined ? rule.default : given;
    if (v === undefined) throw new InvalidParameterError(name, 'given (it has no default)', v);
    if ('int' in rule) out[name] = checkInt(name, v, rule.int[0], rule.int[1]);
    else if ('number' in rule) out[name] = checkNumber(name, v, rule.number[0], rule.number[1]);
    else if ('oneOf' in rule) out[name] = checkOneOf(name, v, rule.oneOf);
    else out[name] = checkBool(name, v);
  }
  return out as ResolvedOptions<R>;
}
