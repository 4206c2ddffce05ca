/**
 * pinrec's heavy parts are optional peer dependencies (TF.js for the embedder, nsfwjs for its fallback model,
 * parquet-wasm for Parquet, vega for benchmark plots). A process where they are not installed — simulated here
 * by resolution hooks that hide them — still fits CF, searches vectors and re-ranks, and the embedder fails
 * with a typed error that names the packages to install.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { MissingDependencyError, PinrecError, deserializeError } from '../../src/core/errors.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test', 'core', 'fixtures');
const HIDDEN = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'nsfwjs', 'parquet-wasm', 'vega', 'vega-lite'];

describe('without the optional peer dependencies', () => {
  it('CF, vector search and re-ranking work; loadEmbedder names the TF.js packages to install', () => {
    const r = spawnSync(process.execPath, ['--import', path.join(fixtures, 'hide-packages.mjs'), '--import', 'tsx', path.join(fixtures, 'no-optional.mts')], {
      cwd: root, encoding: 'utf8', timeout: 90_000, env: { ...process.env, PINREC_HIDE_PACKAGES: HIDDEN.join(',') },
    });
    expect(r.status, `${r.signal ?? ''} ${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { recs: number; hits: number; ranked: number; embedder: string; packages: string[] };
    expect(out.recs).toBe(5);
    expect(out.hits).toBe(5);
    expect(out.ranked).toBe(3);
    expect(out.embedder).toMatch(/^MissingDependencyError: the image embedder needs @tensorflow\/tfjs-core.*npm install @tensorflow\/tfjs-core @tensorflow\/tfjs-converter @tensorflow\/tfjs-layers @tensorflow\/tfjs-backend-wasm/);
    expect(out.packages).toEqual(['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm']);
  });
});

describe('MissingDependencyError', () => {
  it('names the feature, the packages and the install command, and crosses worker boundaries', () => {
    const e = new MissingDependencyError('Parquet input', ['parquet-wasm']);
    expect(e).toBeInstanceOf(PinrecError);
    expect(e.code).toBe('MISSING_DEPENDENCY');
    expect(e.message).toBe('Parquet input needs parquet-wasm, which is not installed: run `npm install parquet-wasm`');
    expect(e.install).toBe('npm install parquet-wasm');
    const back = deserializeError({ name: e.name, message: e.message, code: e.code, fields: { packages: e.packages, feature: e.feature, install: e.install } });
    expect(back).toBeInstanceOf(MissingDependencyError);
    expect((back as MissingDependencyError).packages).toEqual(['parquet-wasm']);
  });
});
