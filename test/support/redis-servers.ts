// Starts private redis-server processes on free loopback ports for the Redis tests, and stops them by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeClusterPort, freePort } from './ports.js';

export { freePort, freeClusterPort };

export const requireServices = process.env.TESSERA_REQUIRE_SERVICES === '1';

export function hasRedisServer(): boolean {
  const result = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return result.status === 0;
}


/** Resolves once something accepts TCP connections on the port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.setTimeout(200);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.connect(port, '127.0.0.1');
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A private temp directory and the redis-server processes started in it. */
export class RedisServers {
  readonly dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
  readonly #processes = new Set<ChildProcess>();

  /** Starts `redis-server` on the port with extra arguments; resolves when it accepts connections. */
  async start(port: number, extra: string[] = []): Promise<ChildProcess> {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--protected-mode', 'no', ...extra],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    this.#processes.add(child);
    child.once('exit', () => this.#processes.delete(child));
    await waitForPort(port);
    return child;
  }

  /** SIGKILLs one server by PID and waits for it to exit. */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await exited;
  }

  /** Kills every server still running and removes the directory. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#processes].map((child) => this.kill(child)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
