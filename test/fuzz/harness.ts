/**
 * Fuzz harness: runs one case of an entry point and classifies what happened.
 *
 * - ok: returned normally, or threw a PinrecError (a typed, documented rejection), or rethrew one of the
 *   fuzz's own {@link Sentinel} errors (thrown on purpose by a caller callback such as a filter predicate);
 * - untyped: threw anything else (TypeError, RangeError, plain Error... from inside pinrec);
 * - wrong: a property of the answer was violated ({@link WrongAnswer}), or Object.prototype was polluted;
 * - hang: an async case did not settle within the per-case limit, or a sync case ran past it.
 * Crashes (the process dying) are detected by the long-mode driver, which runs each entry point in a child.
 */
import fc from 'fast-check';
import { PinrecError } from '../../src/core/errors.js';

/** A property violation. */
export class WrongAnswer extends Error {
  override name = 'WrongAnswer';
}

/** An error the fuzz's own callbacks throw on purpose; pinrec may rethrow it as is. */
export class Sentinel extends Error {
  override name = 'Sentinel';
}

export type Outcome = 'ok' | 'untyped' | 'wrong' | 'hang';

export interface CaseResult {
  outcome: Outcome;
  detail?: string;
}

/** One fuzzed entry point (or group of entry points exercised together on one input). */
export interface EntryPoint<T = unknown> {
  name: string;
  /** Inputs. `quick` is true in the `npm test` budget (known bugs are then steered around, see KNOWN_BUGS). */
  arb: (quick: boolean) => fc.Arbitrary<T>;
  /** Run the case; throw WrongAnswer for a violated property. */
  run: (input: T) => void | Promise<void>;
  /** Cases in the quick (npm test) budget. */
  quickRuns: number;
}

export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new WrongAnswer(typeof message === 'function' ? message() : message);
}

export const CASE_TIMEOUT_MS = 5_000;

const PROTO_KEYS = (): string => Reflect.ownKeys(Object.prototype).map(String).sort().join('|');
const ARRAY_PROTO_KEYS = (): string => Reflect.ownKeys(Array.prototype).map(String).sort().join('|');
const BASE_OBJECT = PROTO_KEYS();
const BASE_ARRAY = ARRAY_PROTO_KEYS();

/** Undo any pollution so one bad case does not poison the following ones; returns a description or null. */
function pollution(): string | null {
  const probe = {} as Record<string | number, unknown>;
  const found: string[] = [];
  if (probe[0] !== undefined) found.push(`({})[0] === ${String(probe[0])}`);
  if (PROTO_KEYS() !== BASE_OBJECT) {
    const base = new Set(BASE_OBJECT.split('|'));
    for (const k of Reflect.ownKeys(Object.prototype)) {
      if (!base.has(String(k))) { found.push(`Object.prototype.${String(k)}`); delete (Object.prototype as Record<PropertyKey, unknown>)[k]; }
    }
  }
  if (ARRAY_PROTO_KEYS() !== BASE_ARRAY) {
    const base = new Set(BASE_ARRAY.split('|'));
    for (const k of Reflect.ownKeys(Array.prototype)) {
      if (!base.has(String(k))) { found.push(`Array.prototype.${String(k)}`); delete (Array.prototype as unknown as Record<PropertyKey, unknown>)[k]; }
    }
  }
  return found.length ? `Object.prototype polluted: ${found.join(', ')}` : null;
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const frame = (e.stack ?? '').split('\n').slice(1, 4).map((s) => s.trim()).join(' < ');
    return `${e.name}: ${e.message}${frame ? ` @ ${frame}` : ''}`;
  }
  return `non-Error thrown: ${String(e)}`;
}

export function classify(e: unknown): CaseResult {
  if (e instanceof WrongAnswer) return { outcome: 'wrong', detail: e.message };
  if (e instanceof Sentinel) return { outcome: 'ok' };
  if (e instanceof PinrecError) return { outcome: 'ok' };
  return { outcome: 'untyped', detail: describeError(e) };
}

class Timeout {}

export async function runCase<T>(ep: EntryPoint<T>, input: T, timeoutMs = CASE_TIMEOUT_MS): Promise<CaseResult> {
  let res: CaseResult = { outcome: 'ok' };
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const p = ep.run(input);
    if (p && typeof (p as Promise<void>).then === 'function') {
      const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Timeout()), timeoutMs); });
      await Promise.race([p, limit]);
    }
  } catch (e) {
    res = e instanceof Timeout ? { outcome: 'hang', detail: `did not settle within ${timeoutMs} ms` } : classify(e);
  } finally {
    if (timer) clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  const polluted = pollution();
  if (polluted) res = { outcome: 'wrong', detail: polluted };
  else if (res.outcome === 'ok' && ms > timeoutMs) res = { outcome: 'hang', detail: `ran ${ms.toFixed(0)} ms (limit ${timeoutMs} ms)` };
  return res;
}

/** A short printable form of an input, for reproductions. */
export function show(value: unknown, max = 1500): string {
  const s = fc.stringify(value);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

/** The per-case seed of case `i` of a run with base seed `seed` (long mode: each case is reproducible alone). */
export function caseSeed(seed: number, i: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ i, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) | 0;
}

/** Generate case `i` deterministically. */
export function generateCase<T>(arb: fc.Arbitrary<T>, seed: number, i: number): T {
  return fc.sample(arb, { seed: caseSeed(seed, i), numRuns: 1 })[0];
}
