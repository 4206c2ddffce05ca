/**
 * Typed errors shared by every pinrec module. Each error has a stable `name` and `code`, so callers can
 * branch on `err instanceof InvalidParameterError` or on `err.code` after crossing a worker boundary.
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
