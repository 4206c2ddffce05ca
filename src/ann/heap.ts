/**
 * Bounded top-k selection by distance (smallest first): the core {@link TopKHeap} in the `'min'` direction,
 * so ties break deterministically towards the smaller label, with the (labels, distances) result the indexes use.
 */
import { TopKHeap } from '../core/topk.js';

export class TopK extends TopKHeap {
  constructor(k: number) {
    super(k, { direction: 'min' });
  }

  /** The held items, best (smallest distance) first. */
  sorted(): { labels: Int32Array; distances: Float64Array } {
    const { indices, values } = this.entries();
    return { labels: indices, distances: values };
  }
}
