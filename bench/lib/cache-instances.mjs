// The app instances of bench/cache-revocation.mjs: test/support/cache-instance.mjs run as separate
// processes on one store, and the HTTP calls the bench makes to them.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { stopChild, trackChild } from './children.mjs';
import { BENCH_DIR } from './config.mjs';

const PROGRAM = join(BENCH_DIR, '..', 'test', 'support', 'cache-instance.mjs');

/** Starts one instance with `env` (see cache-instance.mjs); resolves once it listens. */
export function startInstance(env, label) {
  const child = trackChild(
    spawn(process.execPath, [PROGRAM], { cwd: join(BENCH_DIR, '..'), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${label} did not listen within 30 s\n${out}`)), 30_000);
    const exited = (code, signal) => fail(new Error(`${label} exited (${code ?? signal}) before listening\n${out}`));
    const fail = (error) => {
      clearTimeout(timer);
      child.off('exit', exited);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr.on('data', (chunk) => {
      out = (out + chunk).slice(-4000);
    });
    child.stdout.on('data', (chunk) => {
      out = (out + chunk).slice(-4000);
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(new Instance(label, match[1], child));
      }
    });
    child.once('exit', exited);
  });
}

export class Instance {
  constructor(label, base, child) {
    this.label = label;
    this.base = base;
    this.child = child;
  }

  /** One request; the JSON answer, or an error naming the route and status. */
  async call(method, path, token) {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const response = await fetch(`${this.base}${path}`, { method, headers });
    const body = await response.json();
    if (!response.ok) throw new Error(`${this.label} ${method} ${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  }

  login(subject, evict = false) {
    return this.call('POST', `/login?subject=${encodeURIComponent(subject)}${evict ? '&evict=1' : ''}`);
  }
  read(token) {
    return this.call('GET', '/read', token);
  }
  stats() {
    return this.call('GET', '/stats');
  }
  channel() {
    return this.call('GET', '/channel');
  }

  stop() {
    return stopChild(this.child);
  }
}

/** Reads `token` on `instance` until it is served from its cache; false if not within `timeoutMs`. */
export async function warm(instance, token, timeoutMs = 5000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const answer = await instance.read(token);
    if (!answer.isStored) throw new Error(`${instance.label}: the session to warm is not there`);
    if (answer.servedFromCache) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

/** Waits until every instance's cache serves (its channel answered a probe). */
export async function serving(instances, timeoutMs = 20_000) {
  const deadline = performance.now() + timeoutMs;
  for (const instance of instances) {
    while (!(await instance.stats()).serving) {
      if (performance.now() > deadline) throw new Error(`${instance.label}: the cache does not serve after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
