/**
 * A bounded job queue: at most `concurrency` jobs run, at most `maxQueued` wait; beyond that a caller gets a
 * {@link BusyError} at once (`whenFull: 'reject'`) or waits for room (`'wait'`, optionally with a deadline).
 * Memory stays bounded by the limits, never by the arrival rate.
 */
import { BusyError, ClosedError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';

/** What to do with a job that arrives when the queue is full. */
export type WhenFull = 'reject' | 'wait';

/** Options of {@link BoundedQueue}. */
export interface QueueOptions {
  /** Jobs running at once. */
  concurrency: number;
  /** Jobs waiting to run, beyond the running ones. */
  maxQueued: number;
}

/**
 * @example
 * const q = new BoundedQueue({ concurrency: 2, maxQueued: 100 }, 'ingest');
 * const r = await q.run(() => work(), 'reject'); // BusyError when 100 are already waiting
 */
export class BoundedQueue {
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private closed = false;

  constructor(options: QueueOptions, private readonly what: string) {
    this.concurrency = checkInt('concurrency', options.concurrency, 1, 1024);
    this.maxQueued = checkInt('maxQueued', options.maxQueued, 0, 1_000_000);
  }

  /** Jobs running now. */
  get active(): number {
    return this.running;
  }

  /** Jobs admitted and waiting to run. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Callers waiting for room to be admitted (`whenFull: 'wait'`). */
  get blocked(): number {
    return this.roomWaiters.length;
  }

  /**
   * Run `job` when a slot frees up.
   *
   * @throws {BusyError} when full and `whenFull` is `'reject'`
   * @throws {ClosedError} after {@link BoundedQueue.close}
   */
  async run<T>(job: () => Promise<T>, whenFull: WhenFull): Promise<T> {
    if (this.closed) throw new ClosedError(`${this.what} is closed`);
    while (this.running >= this.concurrency && this.waiting.length >= this.maxQueued) {
      if (whenFull === 'reject') throw new BusyError(this.what, this.waiting.length, this.maxQueued);
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      if (this.closed) throw new ClosedError(`${this.what} is closed`);
    }
    if (this.running >= this.concurrency) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      return await job();
    } finally {
      this.running--;
      const next = this.waiting.shift();
      if (next) next();
      const room = this.roomWaiters.shift();
      if (room) room();
    }
  }

  /** Resolve when nothing runs or waits. */
  async idle(): Promise<void> {
    while (this.running > 0 || this.waiting.length > 0 || this.roomWaiters.length > 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Refuse new jobs (jobs already admitted finish); callers blocked for room get a {@link ClosedError}. */
  close(): void {
    this.closed = true;
    for (const r of this.roomWaiters.splice(0)) r();
  }
}
