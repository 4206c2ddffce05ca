/**
 * `pinrec demo`: the whole library on a seeded synthetic catalogue in seconds — fit, evaluate, recommend, a
 * feed with its sources and caps, and visual search when an image model can be loaded without a download.
 */
import sharp from 'sharp';
import { MissingDependencyError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Id } from '../core/types.js';
import { ExactIndex } from '../ann/index.js';
import { SvdRecommender, evaluate, leaveLastOut, syntheticInteractions } from '../cf/index.js';
import { defaultCacheDir, loadEmbedder } from '../embeddings/index.js';
import { InMemoryPinMetadata, VisualSearch } from '../ranking/index.js';
import { nativeInfo } from '../native/index.js';
import { parse, progress, seconds, EXIT, type Command } from './common.js';
import { buildFeed } from './feed.js';

const CATEGORIES = ['decor', 'food', 'travel', 'style', 'diy', 'garden', 'art', 'fitness'];

/** Synthetic photos of four "styles" (a hue and a pattern each), with noise: 12 per style, 96×96 PNG. */
async function syntheticImages(seed: number): Promise<{ id: string; style: string; png: Buffer }[]> {
  const r = new Rng(seed);
  const rng = () => r.next();
  const styles = [
    { name: 'red-stripes', rgb: [200, 40, 40], f: (x: number, y: number) => (Math.floor((x + y) / 8) % 2) },
    { name: 'blue-checks', rgb: [40, 70, 210], f: (x: number, y: number) => ((Math.floor(x / 12) + Math.floor(y / 12)) % 2) },
    { name: 'green-rings', rgb: [40, 170, 60], f: (x: number, y: number) => (Math.floor(Math.hypot(x - 48, y - 48) / 7) % 2) },
    { name: 'gold-dots', rgb: [220, 180, 40], f: (x: number, y: number) => (Math.hypot((x % 24) - 12, (y % 24) - 12) < 6 ? 1 : 0) },
  ];
  const out: { id: string; style: string; png: Buffer }[] = [];
  const S = 96;
  for (const st of styles) {
    for (let k = 0; k < 12; k++) {
      const px = Buffer.alloc(S * S * 3);
      const dx = Math.floor(rng() * 24);
      const dy = Math.floor(rng() * 24);
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const on = st.f(x + dx, y + dy);
          for (let c = 0; c < 3; c++) {
            const base = on ? st.rgb[c] : 235;
            px[(y * S + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + (rng() - 0.5) * 50)));
          }
        }
      }
      out.push({ id: `${st.name}-${k}`, style: st.name, png: await sharp(px, { raw: { width: S, height: S, channels: 3 } }).png().toBuffer() });
    }
  }
  return out;
}

export const demo: Command = {
  name: 'demo',
  summary: 'fit, evaluate, recommend, a feed and visual search on a seeded synthetic catalogue (no arguments)',
  help: `Usage: pinrec demo [--json]

  Fits the recommender on a seeded synthetic catalogue (5,000 users, 2,000 pins in 8 categories), evaluates it
  leave-last-out, recommends for one user, builds that user's home feed (CF + trending sources, blended and
  capped) and, when an image model loads without a download ($PINREC_MODEL_DIR or the model cache), embeds
  48 synthetic photos of 4 styles and runs a visual search. Nothing is downloaded or written.`,
  async run(argv) {
    const a = parse(this, argv, {}, false);
    if (!a) return EXIT.ok;
    const json = !!a.values.json;
    const say = (s: string) => { if (!json) process.stdout.write(s + '\n'); };
    const t0 = performance.now();
    // 1. CF
    const log = syntheticInteractions({ users: 5000, items: 2000, events: 100_000, seed: 1 });
    const split = leaveLastOut(log);
    const bar = progress(!json);
    let model: SvdRecommender<number, number>;
    try {
      model = new SvdRecommender<number, number>({ factors: 32 }).fit(split.train, { onProgress: bar.onProgress });
    } finally {
      bar.stop();
    }
    const m = evaluate(model, split, { k: 10 });
    const recs = model.recommend(0, { n: 5 });
    say(`synthetic catalogue: 5000 users, 2000 pins, 100000 events (seed 1)`);
    say(`CF: SVD-EASE, 32 factors, kernels ${model.kernels.scoring}: leave-last-out HR@10 ${m.hr.toFixed(4)}, NDCG@10 ${m.ndcg.toFixed(4)}`);
    say(`recommend: top 5 pins for user 0: ${Array.from(recs.ids).join(', ')}`);
    // 2. feed: pins get a category and a creator; the caps hold every category to 30% and every creator to 20%
    const categoryOf = (pin: Id) => CATEGORIES[Number(pin) % CATEGORIES.length];
    const metadata = new InMemoryPinMetadata<Id>(Array.from({ length: 2000 }, (_, p) => ({ id: p, category: categoryOf(p), creator: `creator${p % 97}`, quality: 0.4 + ((p * 37) % 60) / 100 })));
    const { feed, historyOf } = buildFeed({ model: model as unknown as SvdRecommender<Id, Id>, metadata, categoryOf });
    const res = await feed.generate(0, { limit: 20, exclude: historyOf(0) });
    const share = new Map<string, number>();
    for (const it of res.items) share.set(String(it.category), (share.get(String(it.category)) ?? 0) + 1);
    const maxShare = Math.max(...share.values()) / Math.max(1, res.items.length);
    say(`feed for user 0: ${res.items.length} pins from ${res.sources.map((s) => `${s.name} ${s.status} (${s.candidates} candidates, ${s.contributed} placed)`).join(', ')}; largest category share ${(maxShare * 100).toFixed(0)}% (cap 30%), ${res.skipped.length} held back by the caps`);
    say(`  first 5: ${res.items.slice(0, 5).map((it) => `${it.id} [${it.category}, ${it.sources.join('+')}]`).join(', ')}`);
    // 3. visual search, when a model is at hand without downloading
    const looked = [process.env.PINREC_MODEL_DIR ? `$PINREC_MODEL_DIR=${process.env.PINREC_MODEL_DIR}` : '$PINREC_MODEL_DIR (unset)', `the model cache ${defaultCacheDir()}`];
    let visual: Record<string, unknown>;
    try {
      const embedder = await loadEmbedder({ download: false, fallback: false });
      try {
        const imgs = await syntheticImages(7);
        const emb = await embedder.embedBatch(imgs.map((i) => i.png));
        const index = new ExactIndex<string>({ metric: 'cosine', dim: emb.dim });
        index.addItems(imgs.map((i) => i.id), emb.vectors);
        const vs = new VisualSearch({ embedder: { dim: emb.dim, embed: (v: Float32Array) => v }, index, metadata: new InMemoryPinMetadata<string>([]) });
        let correct = 0;
        let total = 0;
        let example: string[] = [];
        for (let q = 0; q < imgs.length; q++) {
          const hits = await vs.search(emb.vectors.subarray(q * emb.dim, (q + 1) * emb.dim), { k: 6, filter: (id) => id !== imgs[q].id });
          const top = hits.slice(0, 5);
          correct += top.filter((h) => h.id.startsWith(imgs[q].style)).length;
          total += top.length;
          if (q === 0) example = top.map((h) => h.id);
        }
        visual = { status: 'ok', model: embedder.info.model, location: embedder.info.location, backend: embedder.info.backend, images: imgs.length, p5: +(correct / total).toFixed(3), example };
        say(`visual search: ${embedder.info.model} (${embedder.info.location}, ${embedder.info.backend}) embedded ${imgs.length} synthetic photos of 4 styles; precision@5 by style ${(correct / total).toFixed(3)}; neighbours of ${imgs[0].id}: ${example.join(', ')}`);
      } finally {
        await embedder.dispose();
      }
    } catch (e) {
      const why = e instanceof MissingDependencyError ? `${e.message}` : (e as Error).message.split('\n')[0];
      visual = { status: 'skipped', looked, reason: why };
      say(`visual search: skipped — no image model without a download (looked in ${looked.join(' and ')}): ${why}`);
      say(`  set PINREC_MODEL_DIR to a folder holding mobilenet_v1_0.75_224/model.json, or run once with network access to fill the cache`);
    }
    const out = {
      users: 5000, pins: 2000, events: 100_000, factors: 32, hr10: +m.hr.toFixed(4), ndcg10: +m.ndcg.toFixed(4), user0: Array.from(recs.ids),
      feed: { items: res.items.length, sources: res.sources.map((s) => ({ name: s.name, status: s.status, candidates: s.candidates, contributed: s.contributed })), maxCategoryShare: +maxShare.toFixed(3), skipped: res.skipped.length, first: res.items.slice(0, 5).map((it) => ({ id: it.id, category: it.category, sources: it.sources })) },
      visual, kernels: model.kernels, native: nativeInfo(), seconds: seconds(t0),
    };
    if (json) process.stdout.write(JSON.stringify(out) + '\n');
    else say(`(${out.seconds} s)`);
    return EXIT.ok;
  },
};
