/**
 * Typed errors shared by every pinrec module. Each failure has its own class with a stable `name` and
 * `code`, so callers can branch on `err instanceof InvalidParameterError` or on `err.code`.
 *
 * Errors cross worker boundaries with their class: a worker thread serialises what it throws as
 * {@link SerializedError} (`name`, `code`, `message`, `stack` and the error's own fields) and the caller
 * rebuilds it with {@link deserializeError}, which looks the class up by `name` in a registry of pinrec error
 * classes ({@link registerErrorClasses}: the classes here register themselves; modules with their own error
 * classes register them beside the pool that can receive them).
 */

/** Base class of every error pinrec throws on purpose. */
export class PinrecError extends Error {
  /** Stable machine-readable code, e.g. `'INVALID_PARAMETER'`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Render a received value for an error message without flooding it. */
export function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (value === null || value === undefined || typeof value === 'boolean') return String(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (ArrayBuffer.isView(value)) {
    const ctor = (value as object).constructor.name;
    const len = (value as unknown as { length?: number }).length ?? (value as ArrayBufferView).byteLength;
    return `${ctor}(${len})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  return Object.prototype.toString.call(value);
}

/**
 * A parameter broke its rule. The message names the parameter, the rule and the value received:
 * `factors must be an integer in [1, 299] (got 500)`.
 */
export class InvalidParameterError extends PinrecError {
  readonly parameter: string;
  readonly rule: string;
  readonly value: unknown;
  constructor(parameter: string, rule: string, value: unknown) {
    super('INVALID_PARAMETER', `${parameter} must be ${rule} (got ${describeValue(value)})`);
    this.parameter = parameter;
    this.rule = rule;
    this.value = value;
  }
}

/** An id (user, pin, vector) that the model or index does not know. */
export class UnknownIdError extends PinrecError {
  readonly parameter: string;
  readonly id: unknown;
  constructor(parameter: string, id: unknown, what = 'id') {
    super('UNKNOWN_ID', `${parameter}: unknown ${what} ${describeValue(id)}`);
    this.parameter = parameter;
    this.id = id;
  }
}

/** A method that needs a fitted model was called before `fit` (or `load`). */
export class NotFittedError extends PinrecError {
  constructor(what: string) {
    super('NOT_FITTED', `${what} is not fitted yet: call fit() or load() first`);
  }
}

/** Vector or matrix dimensions disagree. */
export class DimensionMismatchError extends PinrecError {
  readonly parameter: string;
  readonly expected: number;
  readonly received: number;
  constructor(parameter: string, expected: number, received: number) {
    super('DIMENSION_MISMATCH', `${parameter} must have dimension ${expected} (got ${received})`);
    this.parameter = parameter;
    this.expected = expected;
    this.received = received;
  }
}

/** A saved file is truncated, altered, of another kind, or of an unsupported version. */
export class FileFormatError extends PinrecError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super('FILE_FORMAT', `${path}: ${reason}`);
    this.path = path;
  }
}

/** A numerical routine failed (non-finite values, breakdown); never returned as silent NaN. */
export class NumericalError extends PinrecError {
  constructor(message: string) {
    super('NUMERICAL', message);
  }
}

/** A call was pending on, or made to, something that was closed or disposed (a worker pool, an index's workers). */
export class ClosedError extends PinrecError {
  constructor(message: string) {
    super('CLOSED', message);
  }
}

/** A method was called on an object (an embedder) after its `dispose()`. */
export class DisposedError extends PinrecError {
  constructor(what: string) {
    super('DISPOSED', `${what} was disposed`);
  }
}

/**
 * A worker thread failed: it could not start, crashed, exited, or threw something that is not a pinrec error
 * (which is then the `cause`). `exitCode` is set when the worker exited.
 *
 * @example
 * try { await index.searchBatch(queries, 10); }
 * catch (e) { if (e instanceof WorkerError) await index.searchBatch(queries, 10, { threads: 1 }); }
 */
export class WorkerError extends PinrecError {
  readonly exitCode?: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super('WORKER', message, options);
    if (options?.exitCode !== undefined) this.exitCode = options.exitCode;
  }
}

/** Model inference failed for a batch with an error that is not a pinrec error (kept as `cause`). */
export class InferenceError extends PinrecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INFERENCE', `inference failed: ${message}`, options);
  }
}

/** What went wrong with an image input. */
export type ImageErrorKind = 'read' | 'fetch' | 'too-large' | 'decode' | 'input' | 'unsupported' | 'timeout';

/**
 * An image could not be read, fetched or decoded: corrupt or truncated (`'decode'`), over a byte or pixel limit
 * (`'too-large'`), a format that is not allowed (`'unsupported'`), over its time budget (`'timeout'`), or the
 * wrong type of input (`'input'`). The message names the source: the file path, the URL, or
 * `Buffer(n bytes)` / `sharp instance` / `inputs[i]`.
 *
 * @example
 * try { await embedder.embed('broken.jpg'); }
 * catch (e) { if (e instanceof ImageDecodeError) report(e.source, e.kind); }
 */
export class ImageDecodeError extends PinrecError {
  /** The input that failed (path, URL or a short description). */
  readonly source: string;
  /** Which check failed. */
  readonly kind: ImageErrorKind;
  constructor(source: string, kind: ImageErrorKind, reason: string, options?: { cause?: unknown }) {
    super('IMAGE_DECODE', `${source}: ${reason}`, options);
    this.source = source;
    this.kind = kind;
  }
}

/**
 * A bounded queue is full and the caller asked not to wait (e.g. the ingest queue with `whenFull: 'reject'`).
 * `queued` and `limit` say how full it was; retry later or with `whenFull: 'wait'`.
 *
 * @example
 * try { await ingestor.ingest(bytes); }
 * catch (e) { if (e instanceof BusyError) reply(503, { retryAfterMs: 1000 }); }
 */
export class BusyError extends PinrecError {
  readonly queued: number;
  readonly limit: number;
  constructor(what: string, queued: number, limit: number) {
    super('BUSY', `${what} is busy: ${queued} jobs waiting, the limit is ${limit}`);
    this.queued = queued;
    this.limit = limit;
  }
}

/**
 * A feature needs an optional package that is not installed. pinrec keeps heavy parts (TensorFlow.js for the
 * embedder, nsfwjs for its offline fallback model, parquet-wasm for Parquet, vega for benchmark plots) out of
 * its required dependencies; the message names the feature and the exact `npm install` line.
 *
 * @example
 * try { await loadEmbedder(); }
 * catch (e) { if (e instanceof MissingDependencyError) console.error(e.install); } // 'npm install @tensorflow/tfjs-core …'
 */
export class MissingDependencyError extends PinrecError {
  /** The packages to install. */
  readonly packages: string[];
  /** What needs them, e.g. `'the image embedder'`. */
  readonly feature: string;
  /** The command that installs them. */
  readonly install: string;
  constructor(feature: string, packages: string[], detail?: string, options?: { cause?: unknown }) {
    const install = `npm install ${packages.join(' ')}`;
    super('MISSING_DEPENDENCY', `${feature} needs ${packages.join(', ')}, which ${packages.length === 1 ? 'is' : 'are'} not installed${detail ? ` (${detail})` : ''}: run \`${install}\``, options);
    this.packages = packages;
    this.feature = feature;
    this.install = install;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Crossing worker boundaries

/** An error as it travels from a worker thread to the caller (structured-clone safe). */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  /** The error's own enumerable fields (`parameter`, `value`, …); values that cannot be cloned are described. */
  fields?: Record<string, unknown>;
  cause?: SerializedError;
}

type ErrorClass = abstract new (...args: never[]) => Error;
const registry = new Map<string, ErrorClass>();

/**
 * Make error classes rebuildable by {@link deserializeError}, keyed by class name (the first class
 * registered under a name wins).
 */
export function registerErrorClasses(...classes: ErrorClass[]): void {
  for (const c of classes) if (!registry.has(c.name)) registry.set(c.name, c);
}

const STANDARD = new Map<string, ErrorClass>([Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError].map((c) => [c.name, c]));

/**
 * Rebuild an error serialised in a worker: a registered pinrec class by `name` (so `instanceof` holds,
 * with `code`, `message`, the fields and the worker's `stack`), a standard error class, or a plain
 * `PinrecError` / `Error` carrying the same `name` and `code` when the class is unknown here.
 */
export function deserializeError(s: SerializedError): Error {
  const name = typeof s?.name === 'string' ? s.name : 'Error';
  const cls = registry.get(name) ?? STANDARD.get(name) ?? (typeof s?.code === 'string' ? PinrecError : Error);
  const options = s?.cause ? { cause: deserializeError(s.cause) } : undefined;
  // Construct the Error itself (a real Error object) with the class's prototype, without running the class's
  // own constructor (whose parameters differ per class); then restore what the constructor would have set.
  const err = Reflect.construct(Error, [String(s?.message ?? ''), ...(options ? [options] : [])], cls) as Error & Record<string, unknown>;
  Object.defineProperty(err, 'name', { value: name, writable: true, enumerable: cls.prototype instanceof PinrecError || cls === PinrecError, configurable: true });
  if (typeof s?.code === 'string') err.code = s.code;
  // Own data properties (never a prototype write, whatever the key).
  if (s?.fields) for (const [k, v] of Object.entries(s.fields)) Object.defineProperty(err, k, { value: v, writable: true, enumerable: true, configurable: true });
  if (typeof s?.stack === 'string') err.stack = s.stack;
  return err;
}

registerErrorClasses(
  MissingDependencyError, PinrecError, InvalidParameterError, UnknownIdError, NotFittedError, DimensionMismatchError, FileFormatError, NumericalError,
  ClosedError, DisposedError, WorkerError, InferenceError, ImageDecodeError, BusyError,
);
