/**
 * Seeded synthetic interaction logs: power-law user activity and pin popularity with the seed's mix of
 * interaction types. Used by the demo, the scale benchmark and tests.
 */
import { IdMap } from '../core/ids.js';
import { Rng } from '../core/rng.js';
import { checkInt, checkNumber } from '../core/validate.js';
import { DEFAULT_WEIGHTS, InteractionLog } from './interactions.js';

/** Options of {@link syntheticInteractions}. */
export interface SyntheticOptions {
  /** Number of users. @default 10_000 */
  users?: number;
  /** Number of pins. @default 5_000 */
  items?: number;
  /** Number of interaction events (duplicates of a pair are possible and combine when the matrix is built). @default 200_000 */
  events?: number;
  /** Zipf exponent of user activity. @default 0.6 */
  userExponent?: number;
  /** Zipf exponent of pin popularity. @default 0.8 */
  itemExponent?: number;
  /** Number of latent taste clusters, so the data has structure for CF to find. @default 20 */
  clusters?: number;
  /** Share of events drawn from the user's cluster rather than global popularity. @default 0.7 */
  clusterAffinity?: number;
  /** Interaction type shares (click, closeup, repin, create). @default { click: 0.5, closeup: 0.25, repin: 0.2, create: 0.05 } */
  typeMix?: Record<string, number>;
  /** @default 0 */
  seed?: number;
}

/**
 * Generate a seeded interaction log with ids `0..users-1` and `0..items-1` (numbers). Event weights follow
 * {@link DEFAULT_WEIGHTS}; `time` is the event's position, so the last event of a user is its latest.
 *
 * @example
 * const log = syntheticInteractions({ users: 1000, items: 500, events: 20_000, seed: 7 });
 * const X = log.toMatrix();
 */
export function syntheticInteractions(options: SyntheticOptions = {}): InteractionLog<number, number> {
  const users = checkInt('users', options.users ?? 10_000, 2, 2 ** 30);
  const items = checkInt('items', options.items ?? 5_000, 2, 2 ** 30);
  const events = checkInt('events', options.events ?? 200_000, 1, 2 ** 31 - 1);
  const ue = checkNumber('userExponent', options.userExponent ?? 0.6, 0, 5);
  const ie = checkNumber('itemExponent', options.itemExponent ?? 0.8, 0, 5);
  const clusters = checkInt('clusters', options.clusters ?? 20, 1, items);
  const affinity = checkNumber('clusterAffinity', options.clusterAffinity ?? 0.7, 0, 1);
  const mix = options.typeMix ?? { click: 0.5, closeup: 0.25, repin: 0.2, create: 0.05 };
  const rng = new Rng(options.seed ?? 0);

  const userCdf = zipfCdf(users, ue);
  const itemCdf = zipfCdf(items, ie);
  const userPerm = rng.shuffle(Int32Array.from({ length: users }, (_, i) => i));
  const itemPerm = rng.shuffle(Int32Array.from({ length: items }, (_, i) => i));
  // Pins are dealt to clusters round-robin in popularity order, so each cluster has head and tail pins.
  const perCluster = Math.ceil(items / clusters);
  const clusterCdfs: Float64Array[] = [];
  for (let c = 0; c < clusters; c++) clusterCdfs.push(zipfCdf(Math.max(1, Math.min(perCluster, Math.ceil((items - c) / clusters))), ie));
  const userCluster = new Int32Array(users);
  for (let u = 0; u < users; u++) userCluster[u] = rng.int(clusters);

  const typeNames = Object.keys(mix);
  const typeCdf = new Float64Array(typeNames.length);
  let acc = 0;
  for (let t = 0; t < typeNames.length; t++) {
    const share = checkNumber(`typeMix.${typeNames[t]}`, mix[typeNames[t]], 0, 1);
    acc += share;
    typeCdf[t] = acc;
  }
  const typeWeights = typeNames.map((n) => {
    const w = DEFAULT_WEIGHTS[n];
    checkNumber(`typeMix.${n} (weight of a known type)`, w, 0);
    return w;
  });

  const u = new Int32Array(events);
  const it = new Int32Array(events);
  const w = new Float32Array(events);
  const time = new Float64Array(events);
  for (let e = 0; e < events; e++) {
    const ur = sample(userCdf, rng.next());
    const user = userPerm[ur];
    let rank: number;
    if (rng.next() < affinity) {
      const c = userCluster[user];
      const local = sample(clusterCdfs[c], rng.next());
      rank = Math.min(items - 1, local * clusters + c);
    } else {
      rank = sample(itemCdf, rng.next());
    }
    u[e] = user;
    it[e] = itemPerm[rank];
    w[e] = typeWeights[sample(typeCdf, rng.next() * acc)];
    time[e] = e;
  }
  const ids = (n: number) => IdMap.from(Array.from({ length: n }, (_, i) => i));
  return new InteractionLog(ids(users), ids(items), u, it, w, time);
}

function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) { acc += Math.pow(i + 1, -s); cdf[i] = acc; }
  for (let i = 0; i < n; i++) cdf[i] /= acc;
  return cdf;
}

/** Smallest index whose cumulative value exceeds x (binary search). */
function sample(cdf: Float64Array, x: number): number {
  let lo = 0, hi = cdf.length - 1;
  const target = x * cdf[cdf.length - 1];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] > target) hi = mid; else lo = mid + 1;
  }
  return lo;
}
