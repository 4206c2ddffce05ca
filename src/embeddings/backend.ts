/**
 * TensorFlow.js backend selection: `@tensorflow/tfjs-node` when it is installed (an optional package that is
 * not a dependency of pinrec; its install needs internet), else `@tensorflow/tfjs-backend-wasm` with SIMD,
 * else the pure-JS CPU backend. The backend is global to a JS thread (TF.js keeps one engine per isolate), so
 * every worker thread of the pool selects its own.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { checkOneOf } from '../core/validate.js';

/** The TF.js namespace type used across the module. */
export type Tf = typeof TF;

/** Which backend to ask for. `'auto'` tries tfjs-node, then wasm, then cpu. */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** The backend actually in use. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What {@link initBackend} returns. */
export interface BackendHandle {
  tf: Tf;
  backend: BackendName;
  /** Backends tried before the one in use, with the reason each was skipped. */
  skipped: { backend: BackendName; reason: string }[];
}

let cached: Promise<BackendHandle> | undefined;
let cachedPref: BackendPreference | undefined;

const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * Load TF.js and select a backend (once per thread; later calls with the same preference reuse it).
 *
 * @param preference `'auto'` (default) or a specific backend; a specific backend that cannot start throws
 * @example
 * const { tf, backend } = await initBackend();   // backend: 'tensorflow' | 'wasm' | 'cpu'
 */
export function initBackend(preference: BackendPreference = 'auto'): Promise<BackendHandle> {
  checkOneOf('backend', preference, ['auto', 'tensorflow', 'wasm', 'cpu'] as const);
  if (cached && cachedPref === preference) return cached;
  cachedPref = preference;
  cached = doInit(preference);
  cached.catch(() => { cached = undefined; });
  return cached;
}

async function doInit(pref: BackendPreference): Promise<BackendHandle> {
  const skipped: BackendHandle['skipped'] = [];
  if (pref === 'auto' || pref === 'tensorflow') {
    try {
      // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
      const spec: string = TFJS_NODE;
      const tfn = (await import(spec)) as Tf;
      if (await tfn.setBackend('tensorflow')) {
        await tfn.ready();
        return { tf: tfn, backend: 'tensorflow', skipped };
      }
      skipped.push({ backend: 'tensorflow', reason: 'setBackend("tensorflow") returned false' });
    } catch (e) {
      skipped.push({ backend: 'tensorflow', reason: `${TFJS_NODE} is not installed or failed to load (${firstLine(e)})` });
    }
    if (pref === 'tensorflow') throw new Error(`backend 'tensorflow' is unavailable: ${skipped[0].reason}`);
  }
  const tf = (await import('@tensorflow/tfjs')) as Tf;
  // Keep TF.js from printing its "install tfjs-node" banner and debug warnings: library code never prints.
  tf.env().set('PROD', true);
  if (pref === 'auto' || pref === 'wasm') {
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDistFolder());
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return { tf, backend: 'wasm', skipped };
      }
      skipped.push({ backend: 'wasm', reason: 'setBackend("wasm") returned false' });
    } catch (e) {
      skipped.push({ backend: 'wasm', reason: firstLine(e) });
    }
    if (pref === 'wasm') throw new Error(`backend 'wasm' is unavailable: ${skipped[skipped.length - 1].reason}`);
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('no TF.js backend could be started (cpu failed)');
  await tf.ready();
  return { tf, backend: 'cpu', skipped };
}

/** Folder (with trailing slash) holding the wasm binaries inside node_modules. */
function wasmDistFolder(): string {
  const req = createRequire(import.meta.url);
  const main = req.resolve('@tensorflow/tfjs-backend-wasm');
  // `main` is .../tfjs-backend-wasm/dist/tf-backend-wasm.node.js; the .wasm files sit beside it.
  // A plain path prefix is what the Node build expects (it reads the file with fs, not fetch).
  const dir = path.dirname(main) + path.sep;
  return dir;
}

function firstLine(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return m.split('\n')[0];
}
