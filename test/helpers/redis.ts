/**
 * A throwaway redis-server for tests: a free port on 127.0.0.1, no persistence (`--save '' --appendonly no`),
 * stopped by its PID. `startRedis()` resolves to `undefined` when `redis-server` is not on PATH, so tests can
 * `describe.skipIf(!redis)` and say what they skipped.
 *
 * @example
 * const redis = await startRedis();
 * afterAll(() => redis?.stop());
 * describe.skipIf(!redis)('with Redis', () => { ... });
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface TestRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** PID of the current server process. */
  pid: number;
  /** SIGTERM the server (SIGKILL after 3 s) and wait for it to exit. */
  stop(): Promise<void>;
  /** SIGKILL the server at once (a crash); does not wait. */
  kill(): void;
  /** Start a new server on the same port (after `kill` or `stop`; waits for the old one to exit first). */
  restart(): Promise<void>;
}

/** Whether `redis-server` can be run. */
export function hasRedisServer(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** A free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true when a server on `port` answers PING with +PONG within `ms`. */
function pingOnce(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean) => { clearTimeout(t); sock.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), ms);
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
  });
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode})`);
    if (await pingOnce(port, 200)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Start a redis-server on a free port; `undefined` when redis-server is not installed. */
export async function startRedis(): Promise<TestRedis | undefined> {
  if (!hasRedisServer()) return undefined;
  const port = await freePort();
  let child: ChildProcess;
  let onExit: () => void = () => {};

  const launch = async (): Promise<void> => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
    child = c;
    await new Promise<void>((resolve, reject) => { c.once('spawn', () => resolve()); c.once('error', reject); });
    // never leave a server behind when the test process ends without afterAll
    process.removeListener('exit', onExit);
    onExit = () => { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); };
    process.once('exit', onExit);
    await waitForPing(port, c);
  };
  await launch();

  const r: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() { return child.pid!; },
    async stop() {
      const c = child;
      if (c.exitCode === null && c.signalCode === null) {
        process.kill(c.pid!, 'SIGTERM');
        const t = setTimeout(() => { if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, 'SIGKILL'); }, 3000);
        await exited(c);
        clearTimeout(t);
      }
      process.removeListener('exit', onExit);
    },
    kill() {
      const c = child;
      if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, 'SIGKILL');
    },
    async restart() {
      const c = child;
      if (c.exitCode === null && c.signalCode === null) await r.stop();
      else await exited(c);
      await launch();
    },
  };
  return r;
}
