/**
 * The library's one thread budget. Every layer that runs work on several cores — the SVD's worker threads
 * (which also drive the native kernels, one call per thread), HNSW and usearch batch search and build, the
 * embedding workers — sizes itself from {@link defaultThreads}, so two layers never each take every core: a
 * native kernel never starts threads of its own, and OpenBLAS (when the native kernels use it) runs on the
 * calling thread only.
 */
import { availableParallelism } from 'node:os';

/**
 * Threads a parallel job uses when the caller does not say: `PINREC_THREADS` when set (an integer ≥ 1),
 * else the machine's available parallelism, at most 8.
 *
 * @example
 * import { defaultThreads } from 'pinrec';
 * const t = defaultThreads(); // 2 on a 2-core machine
 */
export function defaultThreads(): number {
  const env = process.env.PINREC_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (Number.isInteger(n) && n >= 1 && n <= 256) return n;
  }
  return Math.max(1, Math.min(8, availableParallelism()));
}
