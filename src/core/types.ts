/**
 * The few types every pinrec module shares.
 */

/** A caller's id for a user, pin or vector: kept as given and returned as given. */
export type Id = string | number | bigint;

export type { Ranked } from './interfaces.js';

/** Progress of a long job, reported through an `onProgress` callback. */
export interface Progress {
  /** What is being done, e.g. `'svd:power-iteration'`. */
  stage: string;
  /** Units done so far. */
  done: number;
  /** Units in all (when known). */
  total: number;
}

/** Callback for long jobs; library code never prints, it calls this instead. */
export type ProgressCallback = (progress: Progress) => void;

/** Distance metrics shared by vector indexes and similarity computations. */
export type Metric = 'cosine' | 'ip' | 'l2';
