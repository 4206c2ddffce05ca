/**
 * Bounded top-k selection by distance (smallest first) without sorting everything: a max-heap of size k
 * keyed by (distance, label), so ties break deterministically towards the smaller label.
 */
export class TopK {
  readonly k: number;
  private readonly dist: Float64Array;
  private readonly label: Int32Array;
  private n = 0;

  constructor(k: number) {
    this.k = k;
    this.dist = new Float64Array(k);
    this.label = new Int32Array(k);
  }

  /** Number of items held. */
  get size(): number {
    return this.n;
  }

  /** Distance an item must beat to enter (Infinity while not full). */
  get bound(): number {
    return this.n < this.k ? Infinity : this.dist[0];
  }

  private worse(i: number, j: number): boolean {
    const a = this.dist[i], b = this.dist[j];
    return a > b || (a === b && this.label[i] > this.label[j]);
  }

  /** Offer an item; kept when among the k best seen so far. */
  push(d: number, label: number): void {
    const { dist, label: lab } = this;
    if (this.n < this.k) {
      let i = this.n++;
      dist[i] = d; lab[i] = label;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    if (d > dist[0] || (d === dist[0] && label > lab[0])) return;
    dist[0] = d; lab[0] = label;
    let i = 0;
    const n = this.n;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && this.worse(l, m)) m = l;
      if (r < n && this.worse(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const d = this.dist[i]; this.dist[i] = this.dist[j]; this.dist[j] = d;
    const l = this.label[i]; this.label[i] = this.label[j]; this.label[j] = l;
  }

  /** The held items, best (smallest distance) first. */
  sorted(): { labels: Int32Array; distances: Float64Array } {
    const order = Array.from({ length: this.n }, (_, i) => i);
    order.sort((a, b) => this.dist[a] - this.dist[b] || this.label[a] - this.label[b]);
    const labels = new Int32Array(this.n);
    const distances = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) { labels[i] = this.label[order[i]]; distances[i] = this.dist[order[i]]; }
    return { labels, distances };
  }
}
