/**
 * A private PostgreSQL cluster for fault tests: `initdb` in a temporary folder, a free loopback
 * port, started and stopped with `pg_ctl`. As root the binaries run as the `postgres` OS user,
 * since PostgreSQL refuses to run as root.
 */
import { execFile } from 'node:child_process';
import { chown, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** The newest `/usr/lib/postgresql/<version>/bin`, or `PG_BIN` when set; null when none is installed. */
export async function findPostgresBin(): Promise<string | null> {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  try {
    const versions = (await readdir('/usr/lib/postgresql')).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    const newest = versions[0];
    return newest === undefined ? null : `/usr/lib/postgresql/${newest}/bin`;
  } catch {
    return null;
  }
}

export class PostgresCluster {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  readonly #asPostgres: boolean;

  private constructor(bin: string, dir: string, port: number, asPostgres: boolean) {
    this.#bin = bin;
    this.dir = dir;
    this.port = port;
    this.#asPostgres = asPostgres;
  }

  /** Runs `initdb` (trust auth, superuser `postgres`) in a new temporary folder. */
  static async create(bin: string): Promise<PostgresCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-pg-'));
    const asPostgres = process.getuid?.() === 0;
    const cluster = new PostgresCluster(bin, dir, await freePort(), asPostgres);
    try {
      if (asPostgres) {
        const { stdout } = await run('id', ['-u', 'postgres']);
        const { stdout: gid } = await run('id', ['-g', 'postgres']);
        await chown(dir, Number(stdout.trim()), Number(gid.trim()));
      }
      await cluster.#pg('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return cluster;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off -c max_connections=50`;
    await this.#pg('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']);
  }

  /** `immediate` kills the server like a crash: no checkpoint, connections cut. */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    await this.#pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  /**
   * Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server and its backends, by the ids in
   * `postmaster.pid`: a server that accepts connections but never answers.
   */
  async signal(signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    const postmaster = Number((await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(postmaster)]);
    const children = stdout
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
    for (const pid of signal === 'SIGSTOP' ? [...children, postmaster] : [postmaster, ...children]) {
      try {
        process.kill(pid, signal);
      } catch {
        // A backend that just exited.
      }
    }
  }

  /** Stops the server if it runs and removes the folder; never throws. */
  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }

  async #pg(tool: string, args: string[]): Promise<void> {
    const binary = join(this.#bin, tool);
    const [command, argv] = this.#asPostgres ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
    await run(command, argv as string[], { cwd: this.dir, timeout: 60_000 });
  }
}
