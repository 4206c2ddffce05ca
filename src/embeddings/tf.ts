/**
 * Internal: the TF.js side of backend selection. This is the only place that names TF.js types for the rest of
 * the module (`Tf`); nothing exported from the package's public entry points refers to this file, so pinrec's
 * published declarations do not pull in `@tensorflow/tfjs`'s own types (which do not type-check without
 * `skipLibCheck`). Backend order: `@tensorflow/tfjs-node` when it is installed (optional, not a dependency),
 * else `@tensorflow/tfjs-backend-wasm` with SIMD, else the pure-JS CPU backend. The backend is global to a JS
 * thread (TF.js keeps one engine per isolate), so every worker thread of the pool selects its own.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { checkOneOf } from '../core/validate.js';
import type { BackendName, BackendPreference } from './backend.js';

/** The TF.js namespace type used inside the module (never in public signatures). */
export type Tf = typeof TF;

/** What {@link loadTf} returns: the full TF.js namespace and the backend in use. */
export interface TfHandle {
  tf: Tf;
  backend: BackendName;
  /** Backends tried before the one in use, with the reason each was skipped. */
  skipped: { backend: BackendName; reason: string }[];
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
  const tf = (await import('@tensorflow/tfjs')) as Tf;
  // Keep TF.js from printing its "install tfjs-node" banner and debug warnings: library code never prints.
  tf.env().set('PROD', true);
  if (pref === 'auto' || pref === 'wasm') {
    const restore = guardProcessHandlers();
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
