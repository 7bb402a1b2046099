// Starts private redis-server processes on free loopback ports for the Redis tests, and stops them by PID.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeClusterPort, freePort } from './ports.js';

const run = promisify(execFile);

export { freePort, freeClusterPort };

export const requireServices = process.env.TESSERA_REQUIRE_SERVICES === '1';

/** `redis-server`, or Valkey's `valkey-server`, which takes the same arguments. */
export type ServerBinary = 'redis-server' | 'valkey-server';

export function hasRedisServer(binary: ServerBinary = 'redis-server'): boolean {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0;
}

/** The version line a server binary prints (`Valkey server v=8.0.1 ...`), or null when it is missing. */
export function serverVersion(binary: ServerBinary): string | null {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

/** Calls per command name (`hgetall`, `client|setinfo`, ...) from `INFO commandstats`: since start-up or the last `CONFIG RESETSTAT`. */
export async function commandCalls(client: { sendCommand(args: string[]): Promise<unknown> }): Promise<Record<string, number>> {
  const info = (await client.sendCommand(['INFO', 'commandstats'])) as string;
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1] as string] = Number(match[2]);
  return calls;
}

/** A private temp directory and the server processes (redis-server or valkey-server) started in it. */
export class RedisServers {
  readonly dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
  readonly #processes = new Set<ChildProcess>();
  /** Each port's process and the arguments it was started with, so that it can be restarted alike. */
  readonly #byPort = new Map<number, { child: ChildProcess; extra: string[] }>();

  constructor(readonly binary: ServerBinary = 'redis-server') {}

  /**
   * Starts the server on the port with extra arguments. Resolves once the server logs that it
   * accepts connections; rejects with its last log lines if it exits first (a port taken since it
   * was found free, say) or is not ready within 10 s.
   */
  async start(port: number, extra: string[] = []): Promise<ChildProcess> {
    const child = spawn(
      this.binary,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--daemonize',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--protected-mode',
        'no',
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#processes.add(child);
    this.#byPort.set(port, { child, extra });
    child.once('exit', () => this.#processes.delete(child));
    // The log is read for as long as the server runs, or a full pipe would block it.
    let log = '';
    const keep = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        child.stdout.off('data', ready);
        child.off('exit', exited);
        if (error) reject(error);
        else resolve();
      };
      const lastLines = () => log.trim().split('\n').slice(-3).join(' | ');
      const ready = () => {
        if (log.includes('Ready to accept connections')) settle();
      };
      const exited = (code: number | null, signal: string | null) =>
        settle(new Error(`${this.binary} on port ${port} exited at start-up (${code ?? signal}): ${lastLines()}`));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(new Error(`${this.binary} on port ${port} was not ready within 10 s: ${lastLines()}`));
      }, 10_000);
      child.stdout.on('data', ready);
      child.once('exit', exited);
    });
    return child;
  }

  /** The server process started last on `port`. */
  processOn(port: number): ChildProcess {
    const started = this.#byPort.get(port);
    assert.ok(started, `no server was started on port ${port}`);
    return started.child;
  }

  /** Starts the server on `port` again, with the arguments it had (a cluster node keeps its node id and slots). */
  async restart(port: number): Promise<ChildProcess> {
    const started = this.#byPort.get(port);
    assert.ok(started, `no server was started on port ${port}`);
    return this.start(port, started.extra);
  }

  /**
   * Starts `masters` cluster-enabled servers on free port pairs, joins them into a cluster with no
   * replicas (with the binary's own CLI: `redis-cli` or `valkey-cli`), waits for
   * `cluster_state:ok` everywhere and returns their ports.
   */
  async startCluster(masters = 3, extra: string[] = []): Promise<number[]> {
    // A port found free can be taken before the server binds it (other tests start servers too):
    // then that node starts again on another port.
    const startNode = async (): Promise<number> => {
      for (let attempt = 1; ; attempt++) {
        const port = await freeClusterPort();
        try {
          await this.start(port, ['--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, `nodes-${port}.conf`), ...extra]);
          return port;
        } catch (error) {
          if (attempt >= 5) throw error;
        }
      }
    };
    const ports = await Promise.all(Array.from({ length: masters }, startNode));
    const cli = this.#cliBinary;
    const created = spawnSync(
      cli,
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(created.status, 0, `${cli} --cluster create failed: ${created.stdout}${created.stderr}`);
    const deadline = Date.now() + 20_000;
    while (
      !(await Promise.all(ports.map((port) => this.cli(port, 'CLUSTER', 'INFO')))).every((info) => info.includes('cluster_state:ok'))
    ) {
      assert.ok(Date.now() < deadline, 'the cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
    return ports;
  }

  /** The binary's own CLI (`redis-cli` or `valkey-cli`). */
  get #cliBinary(): string {
    return this.binary === 'valkey-server' ? 'valkey-cli' : 'redis-cli';
  }

  /** One command to the server on `port` through the CLI, without blocking the event loop: its output, or '' when it fails. */
  async cli(port: number, ...command: string[]): Promise<string> {
    try {
      return (await run(this.#cliBinary, ['-h', '127.0.0.1', '-p', String(port), ...command], { encoding: 'utf8', timeout: 5000 })).stdout;
    } catch {
      return '';
    }
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
