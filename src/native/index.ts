/**
 * pinrec's optional native kernels (src/native/kernels.c, built by node-gyp during `npm ci`): the SVD's sparse
 * and dense products and CF scoring, each computing exactly what its JavaScript twin computes, in the same order
 * of floating-point operations, so switching paths never changes a result (tests check equality bit for bit).
 *
 * The addon is loaded once, lazily. It is skipped — and the JavaScript kernels used — when it was not built (no
 * compiler at install time), when it is stale (another version of this file), or when `PINREC_NATIVE=0`;
 * {@link nativeInfo} says which and why.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidParameterError } from '../core/errors.js';

/** The version of the kernel set this code expects (kernels.c's `version`). */
const KERNELS_VERSION = 4;

/** The native kernels' entry points (argument order mirrors the JavaScript kernels of src/cf). */
export interface NativeKernels {
  readonly isa: string;
  readonly version: number;
  spmm(indptr: Int32Array, indices: Int32Array, data: Float32Array, rows: number, cols: number, z: Float64Array, l: number, out: Float64Array, r0: number, r1: number): void;
  spmmF32(indptr: Int32Array, indices: Int32Array, data: Float32Array, rows: number, cols: number, z: Float32Array, l: number, out: Float32Array | Float64Array, r0: number, r1: number): void;
  gramApply(indptr: Int32Array, indices: Int32Array, data: Float32Array, rows: number, cols: number, z: Float64Array, l: number, y: Float64Array, r0: number, r1: number): void;
  syrk(a: Float64Array, l: number, r0: number, r1: number, c: Float64Array): void;
  gemmTN(a: Float64Array, l: number, b: Float64Array, m: number, r0: number, r1: number, c: Float64Array): void;
  gemmNN(a: Float64Array, l: number, b: Float64Array, m: number, out: Float64Array, r0: number, r1: number, upper: boolean): void;
  normalizeColumns(z: Float64Array, n: number, l: number): void;
  sparseBase(rptr: Int32Array, ridx: Int32Array, rval: Float32Array, b: number, gptr: Int32Array, gind: Int32Array, gdat: Float32Array, grows: number, scale: Float32Array, n: number, base: Float64Array): void;
  score(q: Float64Array, b: number, k: number, wt: Float32Array, stride: number, n: number, base: Float64Array | null, out: Float32Array): void;
}

/** Which kernels run, and why. */
export interface NativeInfo {
  /** Whether the native kernels are loaded and used by `'auto'`. */
  available: boolean;
  /** The instruction set the kernels dispatched to (`'avx512f'`, `'avx2'`, `'x86-64'`, …) when available. */
  isa?: string;
  /** The addon file, when found. */
  file?: string;
  /** Why the native kernels are off, when they are. */
  reason?: string;
}

/** Which kernels a job uses: `'auto'` (native when available), `'native'` (required) or `'js'`. */
export type KernelChoice = 'auto' | 'native' | 'js';

let loaded: { kernels: NativeKernels | null; info: NativeInfo } | undefined;

/** The addon's path: `build/Release/pinrec_native.node` under the package root (src/native and dist/native are both two levels down). */
export function nativeAddonFile(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/native/ or dist/native/ → two folders up; the benchmarks' compiled copy (dist/bench/src/native/) → four
  const near = path.resolve(here, '..', '..', 'build', 'Release', 'pinrec_native.node');
  const bench = path.resolve(here, '..', '..', '..', '..', 'build', 'Release', 'pinrec_native.node');
  return !existsSync(near) && path.basename(path.resolve(here, '..', '..')) === 'bench' && existsSync(bench) ? bench : near;
}

function load(): { kernels: NativeKernels | null; info: NativeInfo } {
  if (loaded) return loaded;
  const file = nativeAddonFile();
  if (process.env.PINREC_NATIVE === '0') loaded = { kernels: null, info: { available: false, reason: 'disabled by PINREC_NATIVE=0' } };
  else if (!existsSync(file)) loaded = { kernels: null, info: { available: false, reason: `not built (${file} is missing: no C compiler at install time, or PINREC_NATIVE=0 then; run \`npm rebuild pinrec\`)` } };
  else {
    try {
      const k = createRequire(import.meta.url)(file) as NativeKernels;
      if (k.version !== KERNELS_VERSION) loaded = { kernels: null, info: { available: false, file, reason: `stale build (kernels version ${k.version}, this code needs ${KERNELS_VERSION}; run \`npm rebuild pinrec\`)` } };
      else loaded = { kernels: k, info: { available: true, isa: k.isa, file } };
    } catch (e) {
      loaded = { kernels: null, info: { available: false, file, reason: `failed to load: ${(e as Error).message.split('\n')[0]}` } };
    }
  }
  return loaded;
}

/**
 * Whether the native kernels are in use, which instruction set they dispatched to, or why they are off.
 *
 * @example
 * import { nativeInfo } from 'pinrec';
 * const info = nativeInfo(); // { available: true, isa: 'avx2', file: '…/pinrec_native.node' } on a machine with a compiler
 */
export function nativeInfo(): NativeInfo {
  return { ...load().info };
}

/**
 * The native kernels for a job that asked for `choice`: the kernels, or `null` for the JavaScript path.
 * @throws InvalidParameterError when `choice` is `'native'` and they are not available (the message says why)
 */
export function nativeKernels(choice: KernelChoice = 'auto', param = 'kernels'): NativeKernels | null {
  if (choice === 'js') return null;
  const l = load();
  if (choice === 'native' && !l.kernels) throw new InvalidParameterError(param, `'auto' or 'js': the native kernels are not available (${l.info.reason})`, choice);
  if (choice !== 'native' && choice !== 'auto') throw new InvalidParameterError(param, `'auto', 'native' or 'js'`, choice);
  return l.kernels;
}
