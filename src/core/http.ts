/**
 * Bounded HTTP GET: a timeout for the whole transfer, a byte limit enforced while streaming (a lying or
 * missing Content-Length cannot make us buffer more than `maxBytes`), and redirects followed by hand: at most
 * {@link MAX_REDIRECTS}, only to http(s), and only within the origin (scheme, host, port) of the URL asked for
 * unless `allowCrossOriginRedirects` is set.
 */

/** Why a bounded fetch failed. */
export class FetchFailure extends Error {
  readonly kind: 'status' | 'timeout' | 'too-large' | 'network' | 'redirect';
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
  /** Follow redirects to another origin (scheme, host or port) than the URL asked for. @default false */
  allowCrossOriginRedirects?: boolean;
}

/** Most redirects one {@link fetchBytes} follows. */
export const MAX_REDIRECTS = 5;

/** GET `url` into a Buffer within a timeout and a byte limit; throws {@link FetchFailure}. */
export async function fetchBytes(url: string, opts: FetchBytesOptions): Promise<Buffer> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs);
  try {
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      throw new FetchFailure('network', `invalid URL ${JSON.stringify(url)}`);
    }
    let current = url;
    let res: Response;
    for (let hops = 0; ; hops++) {
      try {
        res = await fetch(current, { signal: ctrl.signal, redirect: 'manual' });
      } catch (e) {
        if (ctrl.signal.aborted) throw new FetchFailure('timeout', `timed out after ${opts.timeoutMs} ms`);
        throw new FetchFailure('network', `request failed (${describeCause(e)})`, undefined, e);
      }
      if (res.status < 300 || res.status > 399 || res.status === 304) break;
      const location = res.headers.get('location');
      await res.body?.cancel().catch(() => undefined);
      if (location === null) throw new FetchFailure('status', `HTTP ${res.status} without a Location header`, res.status);
      if (hops >= MAX_REDIRECTS) throw new FetchFailure('redirect', `more than ${MAX_REDIRECTS} redirects`, res.status);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new FetchFailure('redirect', `redirect to an invalid URL ${JSON.stringify(location)}`, res.status);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new FetchFailure('redirect', `redirect to a non-http(s) URL ${next.href}`, res.status);
      if (next.origin !== origin && !opts.allowCrossOriginRedirects) {
        throw new FetchFailure('redirect', `redirect to another origin (${next.origin}, asked ${origin}) refused`, res.status);
      }
      current = next.href;
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
