/**
 * Container files (hardening): only regular files are read, reads are bounded by the size at stat time and by a
 * maximum, and temp files left by a writer that was killed are removed by the next save of the same file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readContainer, writeContainer, encodeContainer, FileFormatError, InvalidParameterError } from '../../src/core/index.js';
import { MAX_CONTAINER_BYTES, readInto } from '../../src/core/container.js';

const ROOT = path.resolve(__dirname, '../..');
const CONTAINER = JSON.stringify(path.join(ROOT, 'src/core/container.ts'));
const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run `body` (top-level-await TS) in a child process with a hard time limit; returns its status and output. */
function runChild(name: string, body: string, timeoutMs = 20_000) {
  const script = path.join(dir, `${name}.mts`);
  writeFileSync(script, body);
  return spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
}

const readScript = (target: string) => `
  import { readContainer } from ${CONTAINER};
  try { await readContainer(${JSON.stringify(target)}); console.log('loaded'); }
  catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }
`;

describe('readContainer refuses what is not a regular file', () => {
  it.skipIf(!existsSync('/dev/zero'))('/dev/zero gives FileFormatError "not a regular file" at once (no unbounded read)', () => {
    const r = runChild('zero', readScript('/dev/zero'));
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.name).toBe('FileFormatError');
    expect(out.message).toMatch(/not a regular file/);
  });

  it.skipIf(process.platform === 'win32')('a FIFO with no writer gives FileFormatError instead of waiting forever', () => {
    const fifo = path.join(dir, 'pipe.pinrec');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = runChild('fifo', readScript(fifo), 15_000);
    expect(r.signal).toBeNull();
    const out = JSON.parse(r.stdout.trim());
    expect(out.name).toBe('FileFormatError');
    expect(out.message).toMatch(/not a regular file/);
  });

  it('a folder gives FileFormatError "not a regular file"', async () => {
    await expect(readContainer(dir)).rejects.toThrow(/not a regular file/);
  });
});

describe('readContainer bounds the read', () => {
  it('refuses a file above maxBytes, and documents a default maximum', async () => {
    const f = path.join(dir, 'big.bin');
    await writeContainer(f, 'k', 1, {}, { x: new Float64Array(1000) });
    expect((await readContainer(f, 'k')).sections.get('x')!.length).toBe(1000);
    const err = await readContainer(f, 'k', { maxBytes: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toMatch(/maxBytes/);
    await expect(readContainer(f, 'k', { maxBytes: 0 })).rejects.toThrow(InvalidParameterError);
    expect(MAX_CONTAINER_BYTES).toBeGreaterThanOrEqual(2 ** 31);
  });

  it.skipIf(!existsSync('/proc/self/status'))('a file that holds more than its size at open (a /proc file of size 0) is refused as grown', async () => {
    const err = await readContainer('/proc/self/status').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toMatch(/grew while being read/);
  });

  it('still reads an empty-but-regular or short file as a format error, not a crash', async () => {
    const f = path.join(dir, 'empty.bin');
    writeFileSync(f, '');
    await expect(readContainer(f)).rejects.toThrow(/too short/);
    writeFileSync(f, encodeContainer('k', 1, { a: 1 }, {}));
    expect((await readContainer<{ a: number }>(f)).meta.a).toBe(1);
  });
});

describe('temp files of killed writers', () => {
  it('names temp files recognisably and removes only those of dead writers', async () => {
    const f = path.join(dir, 'stale.bin');
    // A pid that certainly existed and has exited.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(child.stdout);
    const dead = path.join(dir, `.stale.bin.${deadPid}.0123456789ab.pinrec-tmp`);
    const live = path.join(dir, `.stale.bin.${process.ppid}.0123456789ab.pinrec-tmp`);
    const other = path.join(dir, `.other.bin.${deadPid}.0123456789ab.pinrec-tmp`);
    for (const p of [dead, live, other]) writeFileSync(p, 'partial');
    await writeContainer(f, 'k', 1, { v: 1 }, {});
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true); // its writer (our parent) is alive
    expect(existsSync(other)).toBe(true); // another file's temp file is not ours to touch
    for (const p of [live, other]) rmSync(p);
  });

  it('after 20 SIGKILLs of a process saving in a loop, the next save leaves no temp files and the file loads', async () => {
    const sub = mkdtempSync(path.join(dir, 'kill-'));
    const f = path.join(sub, 'model.pinrec');
    const script = path.join(dir, 'saver.mts');
    writeFileSync(script, `
      import { writeContainer } from ${CONTAINER};
      const big = new Float64Array(2_000_000).fill(1.5); // 16 MB: a kill usually lands inside a write
      for (let i = 0; ; i++) {
        await writeContainer(${JSON.stringify(f)}, 'kill.test', 1, { i }, { big });
        if (i === 0) process.stdout.write('saved\\n');
      }
    `);
    let leftovers = 0;
    for (let k = 0; k < 20; k++) {
      const c = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        const guard = setTimeout(() => { c.kill('SIGKILL'); reject(new Error('saver did not start')); }, 30_000);
        c.stdout!.once('data', () => {
          setTimeout(() => { clearTimeout(guard); c.kill('SIGKILL'); }, 5 + ((k * 7) % 40));
        });
        c.once('exit', () => { clearTimeout(guard); resolve(); });
      });
      leftovers = Math.max(leftovers, readdirSync(sub).filter((n) => n !== 'model.pinrec').length);
    }
    expect(leftovers).toBeGreaterThan(0); // the kills did land mid-save
    await writeContainer(f, 'kill.test', 1, { i: -1 }, { big: new Float64Array(4) });
    expect(readdirSync(sub)).toEqual(['model.pinrec']);
    expect((await readContainer<{ i: number }>(f, 'kill.test')).meta.i).toBe(-1);
  }, 180_000);
});

describe('readInto reads a file in bounded chunks', () => {
  it('assembles the file from reads of at most maxChunk bytes (a file over 2 GiB needs several: Node takes 32-bit lengths)', async () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 255));
    const lengths: number[] = [];
    const fh = {
      read: async (buf: Buffer, off: number, len: number, pos: number) => {
        lengths.push(len);
        const n = Math.min(len, bytes.length - pos, 300); // the OS may return less than asked
        bytes.copy(buf, off, pos, pos + n);
        return { bytesRead: Math.max(0, n), buffer: buf };
      },
    };
    const buf = Buffer.alloc(1000);
    expect(await readInto(fh as never, buf, 1000, 128)).toBe(1000);
    expect(buf.equals(bytes)).toBe(true);
    expect(Math.max(...lengths)).toBe(128);
    const short = Buffer.alloc(1200);
    expect(await readInto(fh as never, short, 1200, 512)).toBe(1000); // the file ended first
  });
});

describe('updateChunked', () => {
  it('hashes a buffer in pieces to the same digest as one update', async () => {
    const { createHash } = await import('node:crypto');
    const { updateChunked } = await import('../../src/core/container.js');
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31) & 255));
    const h = createHash('sha256');
    updateChunked(h, data, 333);
    expect(h.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });
});
