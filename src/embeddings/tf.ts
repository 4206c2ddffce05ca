/**
 * Internal: the TF.js side of backend selection. This is the only place that names TF.js types for the rest of
 * the module (`Tf`); nothing exported from the package's public entry points refers to this file, so pinrec's
 * published declarations do not pull in TF.js's own types (which do not type-check without `skipLibCheck`).
 *
 * TF.js is an optional peer dependency (a service that only serves CF and vector search does not pay its
 * ~120 MB). The embedder loads, on first use, `@tensorflow/tfjs-core` with `@tensorflow/tfjs-backend-cpu`,
 * `@tensorflow/tfjs-converter` (graph models) and `@tensorflow/tfjs-layers` (layers models), or the full
 * `@tensorflow/tfjs` bundle when that is what is installed; when neither is there the error names the packages
 * to install ({@link MissingDependencyError}). Backend order: `@tensorflow/tfjs-node` when it is installed
 * (optional), else `@tensorflow/tfjs-backend-wasm` with SIMD, else the pure-JS CPU backend. The backend is global
 * to a JS thread (TF.js keeps one engine per isolate), so every worker thread of the pool selects its own.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as Core from '@tensorflow/tfjs-core';
import type * as Converter from '@tensorflow/tfjs-converter';
import type * as Layers from '@tensorflow/tfjs-layers';
import { MissingDependencyError } from '../core/errors.js';
import { checkOneOf } from '../core/validate.js';
import type { BackendName, BackendPreference } from './backend.js';

/** The TF.js namespace type used inside the module (never in public signatures). */
export type Tf = typeof Core & Pick<typeof Converter, 'loadGraphModel'> & Pick<typeof Layers, 'loadLayersModel' | 'model'>;

/** The packages the embedder needs, as a user installs them. */
export const TFJS_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'];

/** What {@link loadTf} returns: the full TF.js namespace and the backend in use. */
export interface TfHandle {
  tf: Tf;
  backend: BackendName;
  /** Backends tried before the one in use, with the reason each was skipped. */
  skipped: { backend: BackendName; reason: string }[];
}

/** Import an optional package by name (a variable specifier keeps TypeScript and bundlers from requiring it). */
async function optionalImport(spec: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

/**
 * The TF.js namespace from the split packages (core + cpu backend + converter + layers) or the full bundle.
 * Converter and layers are each needed only by one model format; a missing one becomes an error when a model of
 * that format is loaded (see {@link requireTfPart}).
 */
async function importTf(): Promise<Tf> {
  const core = await optionalImport('@tensorflow/tfjs-core');
  if (!core) {
    const full = await optionalImport('@tensorflow/tfjs');
    if (full) return full as unknown as Tf;
    throw new MissingDependencyError('the image embedder', TFJS_PACKAGES, 'TensorFlow.js is an optional peer dependency of pinrec');
  }
  // The cpu backend registers itself on import; the wasm backend depends on it.
  if (!(await optionalImport('@tensorflow/tfjs-backend-cpu'))) {
    throw new MissingDependencyError('the image embedder', ['@tensorflow/tfjs-backend-cpu'], '@tensorflow/tfjs-core is installed without a backend');
  }
  const converter = (await optionalImport('@tensorflow/tfjs-converter')) ?? {};
  const layers = (await optionalImport('@tensorflow/tfjs-layers')) ?? {};
  return { ...layers, ...converter, ...core } as unknown as Tf;
}

/**
 * `tf[name]` from a namespace built by {@link importTf}, or a {@link MissingDependencyError} naming the package
 * that provides it (`loadGraphModel`: converter; `loadLayersModel`, `model`: layers).
 */
export function requireTfPart<K extends 'loadGraphModel' | 'loadLayersModel' | 'model'>(tf: Tf, name: K): Tf[K] {
  const f = (tf as unknown as Record<string, unknown>)[name];
  if (typeof f === 'function') return f as Tf[K];
  const pkg = name === 'loadGraphModel' ? '@tensorflow/tfjs-converter' : '@tensorflow/tfjs-layers';
  throw new MissingDependencyError(name === 'loadGraphModel' ? 'loading a TF.js graph model' : 'loading a TF.js layers model', [pkg]);
}

let cached: Promise<TfHandle> | undefined;
let cachedPref: BackendPreference | undefined;

const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * Load TF.js and select a backend (once per thread; later calls with the same preference reuse it). Internal:
 * the public, tfjs-type-free entry point is {@link initBackend} in `backend.ts`.
 *
 * The wasm backend's emscripten glue installs process-level `uncaughtException` / `unhandledRejection`
 * handlers that re-throw from inside its minified source; they are removed again here (see
 * {@link guardProcessHandlers}), in the main thread and in pool workers.
 *
 * @param preference `'auto'` (default) or a specific backend; a specific backend that cannot start throws
 * @example
 * const { tf, backend } = await loadTf();   // backend: 'tensorflow' | 'wasm' | 'cpu'
 */
export function loadTf(preference: BackendPreference = 'auto'): Promise<TfHandle> {
  checkOneOf('backend', preference, ['auto', 'tensorflow', 'wasm', 'cpu'] as const);
  if (cached && cachedPref === preference) return cached;
  cachedPref = preference;
  cached = doInit(preference);
  cached.catch(() => { cached = undefined; });
  return cached;
}

async function doInit(pref: BackendPreference): Promise<TfHandle> {
  const skipped: TfHandle['skipped'] = [];
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
  const tf = await importTf();
  // Keep TF.js from printing its "install tfjs-node" banner and debug warnings: library code never prints.
  tf.env().set('PROD', true);
  if (pref === 'auto' || pref === 'wasm') {
    const restore = guardProcessHandlers();
    try {
      const wasm = (await optionalImport('@tensorflow/tfjs-backend-wasm')) as { setWasmPaths(p: string): void } | undefined;
      if (!wasm) throw new Error('@tensorflow/tfjs-backend-wasm is not installed');
      wasm.setWasmPaths(wasmDistFolder());
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return { tf, backend: 'wasm', skipped };
      }
      skipped.push({ backend: 'wasm', reason: 'setBackend("wasm") returned false' });
    } catch (e) {
      skipped.push({ backend: 'wasm', reason: firstLine(e) });
    } finally {
      restore();
    }
    if (pref === 'wasm') throw new Error(`backend 'wasm' is unavailable: ${skipped[skipped.length - 1].reason}`);
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('no TF.js backend could be started (cpu failed)');
  await tf.ready();
  return { tf, backend: 'cpu', skipped };
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * The emscripten glue of the wasm backend, when its module starts, adds `process.on('uncaughtException', ex =>
 * { if (!(ex instanceof ExitStatus)) throw ex })` and `process.on('unhandledRejection', r => { throw r })`
 * (see `tf-backend-wasm.node.js`). Those re-throw every later error of the *user's* program from inside the
 * glue, so Node prints the glue's whole minified source line (~36 KB) and exits with code 7 instead of 1; with
 * such a listener present, Node also stops applying its own unhandled-rejection policy. They do nothing for
 * the backend itself (its `ExitStatus` only matters for `exit()` from a C `main`, which tfjs never calls).
 *
 * Returns a function that removes exactly those listeners when they were added since this call; listeners the
 * program itself adds meanwhile are kept (they are told apart by their source text).
 */
function guardProcessHandlers(): () => void {
  if (typeof process === 'undefined' || typeof process.listeners !== 'function') return () => {};
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(PROCESS_EVENTS.map((ev) => [ev, new Set<unknown>(emitter.listeners(ev))]));
  return () => {
    for (const ev of PROCESS_EVENTS) {
      for (const l of emitter.listeners(ev)) {
        if (!before.get(ev)!.has(l) && isEmscriptenRethrow(l)) emitter.removeListener(ev, l as (...a: unknown[]) => void);
      }
    }
  };
}

/** Is `f` one of emscripten's re-throwing process handlers (`throw ex` guarded by `ExitStatus`, or a bare `throw reason`)? */
function isEmscriptenRethrow(f: unknown): boolean {
  if (typeof f !== 'function') return false;
  const src = Function.prototype.toString.call(f).replace(/\s+/g, ' ').trim();
  if (src.length > 300) return false;
  if (/\bExitStatus\b/.test(src) && /\bthrow\b/.test(src)) return true;
  return /^function ?\( ?(\w+) ?\) ?\{ ?throw \1 ?;? ?\}$/.test(src) || /^\(? ?(\w+) ?\)? ?=> ?\{ ?throw \1 ?;? ?\}$/.test(src);
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
