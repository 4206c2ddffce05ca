/**
 * The generator's agenda: a binary min-heap of scheduled future events (a pin's next repin, a close-up or
 * click that follows a view), keyed by time then by insertion order, in growable typed arrays (24 bytes an
 * entry, no object per entry).
 */

/**
 * A binary min-heap of `(time, kind, a, b)` entries. Ties in time pop in insertion order, so the order is
 * fully determined by the sequence of pushes.
 *
 * @example
 * const h = new EventHeap();
 * h.push(5, 0, 42, -1);
 * h.push(2, 1, 7, 3);
 * h.pop(); // true; h.time === 2, h.a === 7
 */
export class EventHeap {
  private times = new Float64Array(64);
  private seqs = new Float64Array(64);
  private kinds = new Uint8Array(64);
  private as = new Int32Array(64);
  private bs = new Int32Array(64);
  private n = 0;
  private seq = 0;
  /** Fields of the entry the last {@link EventHeap.pop} removed. */
  time = 0;
  kind = 0;
  a = 0;
  b = 0;

  /** Number of scheduled entries. */
  get size(): number {
    return this.n;
  }

  /** Time of the earliest entry (Infinity when empty). */
  peekTime(): number {
    return this.n > 0 ? this.times[0] : Infinity;
  }

  /** Schedule an entry. */
  push(time: number, kind: number, a: number, b: number): void {
    if (this.n === this.times.length) this.grow();
    const s = this.seq++;
    let i = this.n++;
    // sift up
    while (i > 0) {
      const p = (i - 1) >> 1;
      const tp = this.times[p];
      if (tp < time || (tp === time && this.seqs[p] < s)) break;
      this.move(p, i);
      i = p;
    }
    this.times[i] = time;
    this.seqs[i] = s;
    this.kinds[i] = kind;
    this.as[i] = a;
    this.bs[i] = b;
  }

  /** Remove the earliest entry into `time`, `kind`, `a`, `b`; false when empty. */
  pop(): boolean {
    if (this.n === 0) return false;
    this.time = this.times[0];
    this.kind = this.kinds[0];
    this.a = this.as[0];
    this.b = this.bs[0];
    const last = --this.n;
    if (last === 0) return true;
    const t = this.times[last];
    const s = this.seqs[last];
    const k = this.kinds[last];
    const a = this.as[last];
    const b = this.bs[last];
    let i = 0;
    // sift down
    for (;;) {
      let c = 2 * i + 1;
      if (c >= last) break;
      const r = c + 1;
      if (r < last && (this.times[r] < this.times[c] || (this.times[r] === this.times[c] && this.seqs[r] < this.seqs[c]))) c = r;
      if (this.times[c] > t || (this.times[c] === t && this.seqs[c] > s)) break;
      this.move(c, i);
      i = c;
    }
    this.times[i] = t;
    this.seqs[i] = s;
    this.kinds[i] = k;
    this.as[i] = a;
    this.bs[i] = b;
    return true;
  }

  private move(from: number, to: number): void {
    this.times[to] = this.times[from];
    this.seqs[to] = this.seqs[from];
    this.kinds[to] = this.kinds[from];
    this.as[to] = this.as[from];
    this.bs[to] = this.bs[from];
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const t = new Float64Array(cap); t.set(this.times); this.times = t;
    const s = new Float64Array(cap); s.set(this.seqs); this.seqs = s;
    const k = new Uint8Array(cap); k.set(this.kinds); this.kinds = k;
    const a = new Int32Array(cap); a.set(this.as); this.as = a;
    const b = new Int32Array(cap); b.set(this.bs); this.bs = b;
  }
}
