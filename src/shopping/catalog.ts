/**
 * The product catalogue of shop-the-look: products with an image embedding, matched to a detected object by
 * visual similarity within the object's category. {@link ProductCatalog} is the contract (a database or a
 * vector index behind it implements `match`); {@link InMemoryProductCatalog} is an exact in-memory one
 * (cosine over unit vectors, one block per category).
 */
import type { Embedder } from '../core/interfaces.js';
import { DimensionMismatchError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';

/** A product that can be tagged on a pin. */
export interface Product {
  id: string;
  name: string;
  /** The catalogue category it is matched within (e.g. `'chair'`, `'furniture'`). */
  category: string;
  /** Who sells it: the key of its price (see `PriceSource`). */
  merchant: string;
  /** Embedding of its product image, by the same embedder as the pins' objects. */
  embedding: Float32Array;
}

/** One catalogue match of a query embedding. */
export interface ProductMatch {
  product: Product;
  /** Cosine similarity of the query and the product's embedding, in [-1, 1]. */
  similarity: number;
}

/** Options of {@link ProductCatalog.match}. */
export interface MatchOptions {
  /** Only products of this category; `null` or absent = every category. */
  category?: string | null;
  /** Matches to return. @default 5 */
  k?: number;
}

/** Products to tag, searchable by image embedding. */
export interface ProductCatalog {
  /** Embedding dimension. */
  readonly dim: number;
  get(id: string): Product | undefined;
  /** The `k` products most similar to `embedding` (cosine), best first, ties by id. */
  match(embedding: Float32Array, options?: MatchOptions): ProductMatch[] | Promise<ProductMatch[]>;
}

interface Block {
  ids: string[];
  /** Row-major unit vectors. */
  vectors: Float32Array;
  n: number;
}

/**
 * An exact in-memory product catalogue: cosine similarity over unit-length copies of the embeddings, scanned per
 * category (a category of 100,000 products is one 100,000 × dim pass). Adding a product with an existing id
 * replaces it.
 *
 * @example
 * const catalog = new InMemoryProductCatalog(256);
 * catalog.add({ id: 'lamp-1', name: 'Brass lamp', category: 'lamp', merchant: 'acme', embedding: await embedder.embed(lampPhoto) });
 * catalog.match(await embedder.embed(crop), { category: 'lamp', k: 3 }); // [{ product, similarity }, ...]
 */
export class InMemoryProductCatalog implements ProductCatalog {
  readonly dim: number;
  private readonly products = new Map<string, Product>();
  private readonly unit = new Map<string, Float32Array>();
  private blocks: Map<string, Block> | null = null;

  /** @param dim the embedding dimension */
  constructor(dim: number, products: Iterable<Product> = []) {
    this.dim = checkInt('dim', dim, 1, 65_536);
    for (const p of products) this.add(p);
  }

  /** Number of products. */
  get size(): number {
    return this.products.size;
  }

  /** The categories present, sorted. */
  categories(): string[] {
    return [...new Set([...this.products.values()].map((p) => p.category))].sort();
  }

  /**
   * Add (or replace) a product. Its embedding is copied.
   * @throws {InvalidParameterError} for a missing field or a non-finite / zero embedding; {@link DimensionMismatchError} for another dimension
   */
  add(product: Product): void {
    if (product === null || typeof product !== 'object') throw new InvalidParameterError('product', 'an object { id, name, category, merchant, embedding }', product);
    for (const f of ['id', 'name', 'category', 'merchant'] as const) {
      const v = product[f];
      if (typeof v !== 'string' || v.length === 0 || v.length > 1024) throw new InvalidParameterError(`product.${f}`, 'a string of 1–1024 characters', v);
    }
    const e = product.embedding;
    if (!(e instanceof Float32Array)) throw new InvalidParameterError('product.embedding', 'a Float32Array', e);
    if (e.length !== this.dim) throw new DimensionMismatchError(`product.embedding (${product.id})`, this.dim, e.length);
    let ss = 0;
    for (let i = 0; i < e.length; i++) {
      if (!Number.isFinite(e[i])) throw new InvalidParameterError(`product.embedding[${i}] (${product.id})`, 'a finite number', e[i]);
      ss += e[i] * e[i];
    }
    if (!(ss > 0)) throw new InvalidParameterError(`product.embedding (${product.id})`, 'a non-zero vector', 'all zeros');
    const inv = 1 / Math.sqrt(ss);
    const copy = Float32Array.from(e);
    this.products.set(product.id, { id: product.id, name: product.name, category: product.category, merchant: product.merchant, embedding: copy });
    this.unit.set(product.id, Float32Array.from(copy, (v) => v * inv));
    this.blocks = null;
  }

  /**
   * Add every product of `items`, embedding each one's image with `embedder` (`concurrency` at a time).
   *
   * @example
   * await catalog.addImages(embedder, [{ id: 'lamp-1', name: 'Brass lamp', category: 'lamp', merchant: 'acme', image: 'lamp-1.jpg' }]);
   */
  async addImages<In>(embedder: Embedder<In>, items: Iterable<Omit<Product, 'embedding'> & { image: In }>, options: { concurrency?: number } = {}): Promise<void> {
    if (typeof embedder?.embed !== 'function') throw new InvalidParameterError('embedder', 'an Embedder with embed()', embedder);
    const list = [...items];
    const conc = checkInt('concurrency', options.concurrency ?? 2, 1, 64);
    const vectors: Float32Array[] = new Array(list.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(conc, list.length) }, async () => {
      while (next < list.length) {
        const i = next++;
        vectors[i] = await embedder.embed(list[i].image);
      }
    }));
    list.forEach((it, i) => this.add({ id: it.id, name: it.name, category: it.category, merchant: it.merchant, embedding: vectors[i] }));
  }

  get(id: string): Product | undefined {
    const p = this.products.get(id);
    return p ? { ...p, embedding: Float32Array.from(p.embedding) } : undefined;
  }

  /**
   * Remove a product.
   * @throws {UnknownIdError} when absent
   */
  remove(id: string): void {
    if (!this.products.delete(id)) throw new UnknownIdError('product', id);
    this.unit.delete(id);
    this.blocks = null;
  }

  /**
   * The `k` most similar products (cosine), best first, ties broken by id; within `category` when given (an
   * unknown category has no matches).
   *
   * @throws {DimensionMismatchError} for a query of another dimension; {@link InvalidParameterError} for a non-finite one
   */
  match(embedding: Float32Array, options: MatchOptions = {}): ProductMatch[] {
    if (!(embedding instanceof Float32Array)) throw new InvalidParameterError('embedding', 'a Float32Array', embedding);
    if (embedding.length !== this.dim) throw new DimensionMismatchError('embedding', this.dim, embedding.length);
    const k = checkInt('k', options.k ?? 5, 1);
    const category = options.category ?? null;
    if (category !== null && typeof category !== 'string') throw new InvalidParameterError('category', 'a category name or null', category);
    let ss = 0;
    for (let i = 0; i < embedding.length; i++) {
      if (!Number.isFinite(embedding[i])) throw new InvalidParameterError(`embedding[${i}]`, 'a finite number', embedding[i]);
      ss += embedding[i] * embedding[i];
    }
    if (!(ss > 0)) return [];
    const inv = 1 / Math.sqrt(ss);
    const blocks = this.blockMap();
    const scan = category === null ? [...blocks.values()] : blocks.has(category) ? [blocks.get(category)!] : [];
    const best: { id: string; s: number }[] = [];
    const d = this.dim;
    for (const b of scan) {
      for (let r = 0; r < b.n; r++) {
        let dot = 0;
        const o = r * d;
        for (let j = 0; j < d; j++) dot += embedding[j] * b.vectors[o + j];
        const s = dot * inv;
        const id = b.ids[r];
        if (best.length === k && !better(s, id, best[k - 1])) continue;
        let at = best.length === k ? k - 1 : best.length;
        if (best.length < k) best.push({ id, s }); else best[at] = { id, s };
        while (at > 0 && better(best[at].s, best[at].id, best[at - 1])) { [best[at - 1], best[at]] = [best[at], best[at - 1]]; at--; }
      }
    }
    return best.map(({ id, s }) => ({ product: this.get(id)!, similarity: Math.max(-1, Math.min(1, s)) }));
  }

  private blockMap(): Map<string, Block> {
    if (this.blocks) return this.blocks;
    const groups = new Map<string, string[]>();
    for (const p of this.products.values()) {
      let g = groups.get(p.category);
      if (!g) groups.set(p.category, (g = []));
      g.push(p.id);
    }
    const blocks = new Map<string, Block>();
    for (const [cat, ids] of groups) {
      const vectors = new Float32Array(ids.length * this.dim);
      ids.forEach((id, r) => vectors.set(this.unit.get(id)!, r * this.dim));
      blocks.set(cat, { ids, vectors, n: ids.length });
    }
    this.blocks = blocks;
    return blocks;
  }
}

function better(s: number, id: string, than: { id: string; s: number }): boolean {
  return s > than.s || (s === than.s && id < than.id);
}
