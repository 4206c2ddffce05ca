/** Test helpers for the embeddings module: local HTTP server, paths, image fixtures. */
import { createServer, type Server } from 'node:http';
import { existsSync, promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { expect } from 'vitest';

export const MODELS_ROOT = path.resolve(process.env.PINREC_SHARED_MODELS ?? path.join(process.cwd(), '../shared/models'));
export const HAVE_MODELS = existsSync(path.join(MODELS_ROOT, 'mobilenet_v1_0.75_224', 'model.json'));
export const CALTECH = path.resolve(process.env.PINREC_DATA ?? path.join(process.cwd(), '../shared/datasets'), 'caltech101-subset');
export const HAVE_CALTECH = existsSync(path.join(CALTECH, 'labels.csv'));

/**
 * Never let a test reach the real internet: point the default hub at a closed local port and the cache at a
 * temp folder unless a test sets them itself.
 */
export function guardNetwork(): void {
  process.env.PINREC_MODEL_HUB = 'http://127.0.0.1:9/';
  delete process.env.PINREC_MODEL_DIR;
  delete process.env.PINREC_OFFLINE;
}

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(tmpdir(), `pinrec-${prefix}-`));
}

const MODEL_ENV = ['PINREC_MODEL_DIR', 'PINREC_MODEL_CACHE', 'PINREC_OFFLINE', 'PINREC_MODEL_HUB'] as const;

/**
 * An offline model environment for tests that load a fake model: a temp folder, the network guarded, every
 * model-dir setting pointed at an empty folder (only an explicitly given model can load), the cache inside the
 * folder, `PINREC_OFFLINE=1`. `restore()` puts the environment back and removes the folder.
 */
export async function offlineModelEnv(prefix: string): Promise<{ tmp: string; restore: () => Promise<void> }> {
  const saved = new Map(MODEL_ENV.map((k) => [k, process.env[k]]));
  guardNetwork();
  const tmp = await tempDir(prefix);
  const empty = path.join(tmp, 'empty');
  await fsp.mkdir(empty);
  process.env.PINREC_MODEL_DIR = empty;
  process.env.PINREC_MODEL_CACHE = path.join(tmp, 'cache');
  process.env.PINREC_OFFLINE = '1';
  return {
    tmp,
    restore: async () => {
      for (const [k, v] of saved) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
      await fsp.rm(tmp, { recursive: true, force: true });
    },
  };
}

/** Largest absolute difference of two equal-length vectors. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export interface TestServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serve files on 127.0.0.1 (random port). `routes` maps a URL path to bytes or a handler; otherwise files are
 * read from `root` (if given) as application/octet-stream; anything else is a 404.
 */
export async function serve(root: string | undefined, routes: Record<string, Buffer | ((res: import('node:http').ServerResponse) => void)> = {}): Promise<TestServer> {
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(p);
    const r = routes[p];
    if (typeof r === 'function') return r(res);
    if (r) { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(r); return; }
    if (root) {
      const f = path.join(root, p);
      if (f.startsWith(root) && existsSync(f)) {
        const b = await fsp.readFile(f).catch(() => undefined);
        if (b) { res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length }); res.end(b); return; }
      }
    }
    res.writeHead(404); res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** Minimal CRC-32 (PNG chunks). */
export function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A valid tiny PNG whose IHDR claims `w`×`h` pixels (a decompression-bomb header). */
export function bombPng(tiny: Buffer, w: number, h: number): Buffer {
  const b = Buffer.from(tiny);
  // Signature (8) + length (4) + "IHDR" (4) then width, height.
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  const crc = crc32(b.subarray(12, 12 + 4 + 13));
  b.writeUInt32BE(crc, 12 + 4 + 13);
  return b;
}
