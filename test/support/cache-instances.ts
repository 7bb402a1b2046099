/**
 * App instances with the session cache on (test/support/cache-instance.mjs, run from the build in
 * dist/), each its own process on one store, and the HTTP calls a test makes to them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const program = fileURLToPath(new URL('./cache-instance.mjs', import.meta.url));
const built = new URL('../../dist/src/core/index.js', import.meta.url);

/** What `GET /read` answers. */
export interface ReadAnswer {
  isStored: boolean;
  servedFromCache: boolean;
  id: string | null;
  n: number;
  stats: CacheStatsAnswer;
}

export interface CacheStatsAnswer {
  entries: number;
  hits: number;
  misses: number;
  invalidations: number;
  flushes: number;
  serving: boolean;
  pushed: boolean;
}

/** One connection of an instance as the server lists it (`GET /channel`). */
export interface ChannelConnection {
  /** Redis: `host:port` of the node, its CLIENT ID, whether it is subscribed, its flags. */
  node?: string;
  id?: string;
  sub?: number;
  flags?: string;
  /** PostgreSQL: the backend's pid and its last statement. */
  pid?: number;
  query?: string;
}

export class CacheInstance {
  constructor(
    readonly label: string,
    readonly base: string,
    readonly child: ChildProcess,
  ) {}

  /** One request; the JSON answer and the status. */
  async request(method: string, path: string, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const response = await fetch(`${this.base}${path}`, { method, headers });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** A request that must answer 200. */
  async call<T>(method: string, path: string, token?: string): Promise<T> {
    const { status, body } = await this.request(method, path, token);
    assert.equal(status, 200, `${this.label} ${method} ${path}: ${status} ${JSON.stringify(body)}`);
    return body as T;
  }

  login(subject: string, evict = false): Promise<{ token: string; id: string }> {
    return this.call('POST', `/login?subject=${encodeURIComponent(subject)}${evict ? '&evict=1' : ''}`);
  }
  read(token: string): Promise<ReadAnswer> {
    return this.call('GET', '/read', token);
  }
  stats(): Promise<CacheStatsAnswer> {
    return this.call('GET', '/stats');
  }
  async connections(): Promise<ChannelConnection[]> {
    return (await this.call<{ connections: ChannelConnection[] }>('GET', '/channel')).connections;
  }

  /** SIGTERM (SIGKILL after 5 s); resolves once it exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Starts one instance with `env` (see cache-instance.mjs); resolves once it listens. */
export function startCacheInstance(env: Record<string, string>, label: string): Promise<CacheInstance> {
  assert.ok(existsSync(built), `${fileURLToPath(built)} is missing: build first (npm run build)`);
  const child = spawn(process.execPath, [program], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${label} did not listen within 30 s\n${out}`)), 30_000);
    const exited = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new Error(`${label} exited (${code ?? signal}) before listening\n${out}`));
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.off('exit', exited);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr.on('data', (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-4000);
    });
    child.stdout.on('data', (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-4000);
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(new CacheInstance(label, match[1] as string, child));
      }
    });
    child.once('exit', exited);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it returns a value other than undefined; fails with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Reads `token` on `instance` until it is served from its cache. */
export function warm(instance: CacheInstance, token: string): Promise<true> {
  return eventually(`${instance.label} to serve the session from its cache`, async () => {
    const answer = await instance.read(token);
    assert.ok(answer.isStored, `${instance.label}: the session to warm is not there`);
    return answer.servedFromCache ? true : undefined;
  });
}

/** Waits until every instance's cache serves (its channel answered a probe). */
export async function allServing(instances: readonly CacheInstance[]): Promise<void> {
  for (const instance of instances) {
    await eventually(`${instance.label}'s cache to serve`, async () => ((await instance.stats()).serving ? true : undefined), 20_000);
  }
}

/**
 * Reads `token` on `instance` until it answers "no session" (within `timeoutMs`), failing on any
 * answer that still shows the session to a read sent `maxStaleness` or more after `revokedAt`
 * (the test's clock, `Date.now()`), and checks that the next read finds none either.
 */
export async function expectGone(
  instance: CacheInstance,
  token: string,
  revokedAt: number,
  maxStaleness: number,
  timeoutMs = 5000,
): Promise<void> {
  for (;;) {
    const sentAt = Date.now();
    const answer = await instance.read(token);
    if (!answer.isStored) break;
    assert.ok(
      sentAt - revokedAt < maxStaleness,
      `${instance.label} answered with the revoked session ${sentAt - revokedAt} ms after the revocation (maxStaleness ${maxStaleness} ms; from its cache: ${answer.servedFromCache})`,
    );
    assert.ok(Date.now() - revokedAt < timeoutMs, `${instance.label} still answers with the revoked session`);
    await sleep(2);
  }
  assert.equal((await instance.read(token)).isStored, false, `${instance.label} answered with the revoked session again`);
}
