/**
 * Running one stage of a request (a candidate source, the metadata lookup) under a time budget, measured
 * fairly: the budget is the time the stage itself takes, not time spent on other requests' work.
 *
 * - A stage that answers synchronously is timed around its own call; past its budget it is dropped as late
 *   (it cannot be pre-empted, but its answer is not used).
 * - A stage that answers with a promise is accepted when the promise settles before the budget's timer
 *   fires. When the event loop was busy with other work, the settled promise is seen before the timer, so
 *   a source that answered in time is never marked late because of someone else's work.
 * - Timers are capped at 2³¹ − 1 ms, the most Node's timers support (a larger value would fire at once).
 */

/** The time source and timers a feed uses; tests pass a manual clock to control time exactly. */
export interface FeedClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `performance.now()` and the global timers. */
export const SYSTEM_CLOCK: FeedClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The longest timer Node supports, in ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How a budgeted stage ended. */
export type StageOutcome<T> =
  | { kind: 'value'; value: T; ms: number }
  | { kind: 'error'; error: unknown; ms: number }
  | { kind: 'timeout'; ms: number };

/**
 * Run `fn` under `budgetMs` on `clock`; `controller` is aborted when the budget runs out.
 *
 * @example
 * const r = await runBudgeted(() => source.fetch(user, ctx), 50, SYSTEM_CLOCK, new AbortController());
 * if (r.kind === 'value') use(r.value);
 */
export async function runBudgeted<T>(fn: () => T | PromiseLike<T>, budgetMs: number, clock: FeedClock, controller: AbortController): Promise<StageOutcome<T>> {
  const budget = Math.min(budgetMs, MAX_TIMER_MS);
  const started = clock.now();
  let out: T | PromiseLike<T>;
  try {
    out = fn();
  } catch (error) {
    return { kind: 'error', error, ms: clock.now() - started };
  }
  if (!isThenable(out)) {
    const ms = clock.now() - started;
    if (ms > budget) { controller.abort(); return { kind: 'timeout', ms }; }
    return { kind: 'value', value: out, ms };
  }
  const pending = out;
  return new Promise<StageOutcome<T>>((resolve) => {
    let done = false;
    const timer = clock.setTimeout(() => {
      if (done) return;
      done = true;
      controller.abort();
      resolve({ kind: 'timeout', ms: clock.now() - started });
    }, budget);
    pending.then(
      (value) => { if (done) return; done = true; clock.clearTimeout(timer); resolve({ kind: 'value', value, ms: clock.now() - started }); },
      (error) => { if (done) return; done = true; clock.clearTimeout(timer); resolve({ kind: 'error', error, ms: clock.now() - started }); },
    );
  });
}

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as PromiseLike<T>).then === 'function';
}

/**
 * A clock that moves only when told: `advance(ms)` runs the timers that fall due, in order. For tests of
 * feeds and sources that must not depend on the machine's speed.
 *
 * @example
 * const clock = new ManualClock();
 * const feed = new FeedGenerator({ sources, clock, timeoutMs: 50 });
 * const pending = feed.generate('u');
 * await clock.advance(60);            // every source still pending is now 'timeout'
 * const { sources: reports } = await pending;
 */
export class ManualClock implements FeedClock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Move time forward by `ms` without running timers (what a synchronous stage "spends"). */
  spend(ms: number): void {
    this.t += ms;
  }

  /** Move time forward by `ms`, running each timer that falls due (after letting pending promises settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await new Promise<void>((r) => setImmediate(r));
  }
}
