/**
 * Bounded HTTP GET: a timeout for the whole transfer and a byte limit enforced while streaming (a lying or
 * missing Content-Length cannot make us buffer more than `maxBytes`).
 */

/** Why a bounded fetch failed. */
export class FetchFailure extends Error {
  readonly kind: 'status' | 'timeout' | 'too-large' | 'network';
  readonly status?: number;
  constructor(kind: FetchFailure['kind'], message: string, status?: number, cause?: unknown) {
    super(message, { cause });
    this.kind = kind;
    this.status = status;
  }
}

/** Options of {@link fetchBytes}. */
export interface FetchBytesOptions {
  /** Abort the whole request after this many milliseconds. */
  timeoutMs: number;
  /** Fail as soon as more than this many bytes arrive. */
  maxBytes: number;
}

/** GET `url` into a Buffer within a timeout and a byte limit; throws {@link FetchFailure}. */
export async function fetchBytes(url: string, opts: FetchBytesOptions): Promise<Buffer> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: ctrl.signal, redirect: 'follow' });
    } catch (e) {
      if (ctrl.signal.aborted) throw new FetchFailure('timeout', `timed out after ${opts.timeoutMs} ms`);
      throw new FetchFailure('network', `request failed (${describeCause(e)})`, undefined, e);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchFailure('status', `HTTP ${res.status} ${res.statusText}`.trim(), res.status);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchFailure('too-large', `Content-Length ${declared} exceeds the limit of ${opts.maxBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > opts.maxBytes) {
            await reader.cancel().catch(() => undefined);
            throw new FetchFailure('too-large', `body exceeds the limit of ${opts.maxBytes} bytes`);
          }
          chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
        }
      } catch (e) {
        if (e instanceof FetchFailure) throw e;
        if (ctrl.signal.aborted) throw new FetchFailure('timeout', `timed out after ${opts.timeoutMs} ms`);
        throw new FetchFailure('network', `transfer failed (${describeCause(e)})`, undefined, e);
      }
    }
    return Buffer.concat(chunks, total);
  } finally {
    clearTimeout(timer);
  }
}

function describeCause(e: unknown): string {
  const err = e as { cause?: { code?: string; message?: string }; message?: string };
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}
