/**
 * Validation at the public boundary. Each helper throws an {@link InvalidParameterError} that names the
 * parameter, the rule and the value received.
 */
import { InvalidParameterError } from './errors.js';

/** An integer in [min, max]. */
export function checkInt(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidParameterError(name, `an integer ${rangeText(min, max)}`, value);
  }
  return value;
}

/** A finite number in [min, max]. */
export function checkNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidParameterError(name, `a finite number ${rangeText(min, max)}`, value);
  }
  return value;
}

/** A positive finite number (> 0). */
export function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidParameterError(name, 'a finite number > 0', value);
  }
  return value;
}

/** One of the listed string values. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidParameterError(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

/** A boolean. */
export function checkBool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidParameterError(name, 'a boolean', value);
  return value;
}

/** Every element finite; returns the index of the first bad one or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) return i;
  }
  return -1;
}

/** Throw when any element of `values` is NaN or infinite, naming the position and the value. */
export function checkFiniteArray(name: string, values: ArrayLike<number>): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new InvalidParameterError(`${name}[${i}]`, 'a finite number', values[i]);
}

function rangeText(min: number, max: number): string {
  if (min === -Infinity && max === Infinity) return '';
  if (max === Infinity) return `>= ${min}`;
  if (min === -Infinity) return `<= ${max}`;
  return `in [${min}, ${max}]`;
}

/**
 * A table of named weights (interaction type → weight) as a `Map`, so user-supplied names such as
 * `'toString'` or `'__proto__'` never reach `Object.prototype`. Every weight must be finite and >= 0.
 *
 * @example
 * weightTable('typeWeights', { repin: 3, click: 1 }).get('repin'); // 3
 */
export function weightTable(name: string, table: unknown): Map<string, number> {
  if (table instanceof Map) table = Object.fromEntries(table);
  if (!table || typeof table !== 'object' || Array.isArray(table)) throw new InvalidParameterError(name, 'an object of name → weight', table);
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(table)) {
    if (Object.hasOwn(Object.prototype, k)) throw new InvalidParameterError(`${name}.${k}`, 'a name that is not an Object.prototype member', k);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3.4028234663852886e38) throw new InvalidParameterError(`${name}.${k}`, 'a finite number >= 0 that float32 holds', v);
    m.set(k, v);
  }
  if (m.size === 0) throw new InvalidParameterError(name, 'a non-empty object', table);
  return m;
}
