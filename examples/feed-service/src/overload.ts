/**
 * Overload control for one Node process: a concurrency limit with a bounded FIFO queue for full feeds, a
 * measure of how late the event loop runs, and the decision each request gets:
 *
 * - `'full'`  — run the whole pipeline (CF, visual, trending; store reads; re-rank; caps);
 * - `'cheap'` — serve the fallback feed (trending per category and the catalogue's popular pins, caps),
 *   marked degraded: when the queue is full, when the request waited past `maxWaitMs`, or when the loop is
 *   late by more than `cheapLagMs` (the process is behind: requests are waiting in the socket buffers,
 *   where no queue of ours can see them);
 * - `'shed'`  — refuse with 503 and `Retry-After`: only when even the fallback cannot keep up (the loop is
 *   late by more than `shedLagMs`, or more than `maxInProcess` requests are inside the process).
 *
 * The lag is sampled by a timer every `sampleMs` (how late it fires), smoothed so one slow tick (a GC pause)
 * does not flip the mode; it rises faster than it falls, and a timer that has not fired at all for longer than
 * the threshold (the loop is blocked right now) counts in full.
 */

export interface AdmissionOptions {
  /** Full feeds running at once (they interleave at their awaits: store reads, sources). @default 4 */
  maxConcurrent?: number;
  /** Full feeds waiting for a slot; past it, requests get the cheap feed. @default 32 */
  maxQueue?: number;
  /** A queued request that waited longer than this gets the cheap feed instead. @default 40 */
  maxWaitMs?: number;
  /** Loop lag above which new requests get the cheap feed. @default 30 */
  cheapLagMs?: number;
  /** Loop lag above which new requests are refused. @default 250 */
  shedLagMs?: number;
  /** Requests inside the process (any kind) above which new ones are refused. @default 2000 */
  maxInProcess?: number;
  /** Lag sampling period. @default 10 */
  sampleMs?: number;
}

export type Decision = 'full' | 'cheap' | 'shed';

export class Admission {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  readonly cheapLagMs: number;
  readonly shedLagMs: number;
  readonly maxInProcess: number;
  private running = 0;
  private inProcess_ = 0;
  private readonly queue: { at: number; resolve: (d: Decision) => void }[] = [];
  private lag_ = 0;
  private timer?: ReturnType<typeof setInterval>;
  private expected = 0;

  constructor(o: AdmissionOptions = {}) {
    this.maxConcurrent = o.maxConcurrent ?? 4;
    this.maxQueue = o.maxQueue ?? 32;
    this.maxWaitMs = o.maxWaitMs ?? 40;
    this.cheapLagMs = o.cheapLagMs ?? 30;
    this.shedLagMs = o.shedLagMs ?? 250;
    this.maxInProcess = o.maxInProcess ?? 2000;
    const sampleMs = o.sampleMs ?? 10;
    this.expected = performance.now() + sampleMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - this.expected);
      this.expected = now + sampleMs;
      // rise fast, fall slowly: one late tick (a GC pause) moves it half way, a run of them all the way
      this.lag_ = late > this.lag_ ? 0.5 * this.lag_ + 0.5 * late : 0.8 * this.lag_ + 0.2 * late;
    }, sampleMs);
    this.timer.unref();
  }

  /** How late the loop runs, ms (smoothed). */
  get lagMs(): number {
    // a timer that has not fired for a long time is itself evidence of lag
    return Math.max(this.lag_, performance.now() - this.expected);
  }

  get queued(): number {
    return this.queue.length;
  }

  get active(): number {
    return this.running;
  }

  get inProcess(): number {
    return this.inProcess_;
  }

  /** Count a request in (call {@link leave} when it is answered). Returns false when it must be shed. */
  enter(): boolean {
    if (this.inProcess_ >= this.maxInProcess || this.lagMs > this.shedLagMs) return false;
    this.inProcess_++;
    return true;
  }

  leave(): void {
    this.inProcess_--;
  }

  /** Ask for a full-feed slot: resolves `'full'` (call {@link release} after) or `'cheap'`. */
  acquire(): Promise<Decision> | Decision {
    if (this.lagMs > this.cheapLagMs) return 'cheap';
    if (this.running < this.maxConcurrent) {
      this.running++;
      return 'full';
    }
    if (this.queue.length >= this.maxQueue) return 'cheap';
    return new Promise<Decision>((resolve) => this.queue.push({ at: performance.now(), resolve }));
  }

  release(): void {
    this.running--;
    while (this.queue.length > 0 && this.running < this.maxConcurrent) {
      const next = this.queue.shift()!;
      if (performance.now() - next.at > this.maxWaitMs) {
        next.resolve('cheap');
        continue;
      }
      this.running++;
      next.resolve('full');
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const q of this.queue.splice(0)) q.resolve('cheap');
  }
}

/**
 * At most `limit` holders at once and `queue` waiting; past that, {@link acquire} resolves `false` at once (the
 * caller sheds). For the expensive requests that have no cheaper answer: image search and uploads run the CNN.
 */
export class Semaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly limit: number, readonly queue: number) {}

  get active(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.length;
  }

  acquire(): Promise<boolean> | boolean {
    if (this.held < this.limit) { this.held++; return true; }
    if (this.waiting.length >= this.queue) return false;
    return new Promise<boolean>((resolve) => this.waiting.push(() => { this.held++; resolve(true); }));
  }

  release(): void {
    this.held--;
    const next = this.waiting.shift();
    if (next) next();
  }
}
