// What the demo-*.mjs abuse scripts share: start a built demo (this checkout's, or another one's
// with --root, e.g. a checkout of an older commit for "before" figures) on a free loopback port,
// talk to it over plain sockets, and summarise timings. Traffic goes to loopback only.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const thisRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `--name value` pairs over defaults; numbers stay numbers. */
export function parseArgs(defaults) {
  const options = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, '');
    const value = argv[i + 1];
    if (name === undefined || value === undefined || !(name in defaults)) {
      console.error(
        `usage: node ${process.argv[1]} ${Object.entries(defaults)
          .map(([k, v]) => `[--${k} ${v}]`)
          .join(' ')}`,
      );
      process.exit(2);
    }
    options[name] = typeof defaults[name] === 'number' ? Number(value) : value;
  }
  return options;
}

/**
 * `memory`, `sqlite` (a fresh file in a temporary directory) or a `redis://` URL (a fresh key
 * prefix, removed afterwards by `cleanup`).
 */
export function storeSpec(kind) {
  if (kind === 'memory') return { spec: 'memory:', cleanup: async () => undefined };
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-abuse-'));
    return { spec: `sqlite:${join(dir, 'demo.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (kind.startsWith('redis://')) {
    const prefix = `abuse-${randomBytes(4).toString('hex')}:`;
    return {
      spec: `${kind}?prefix=${prefix}`,
      cleanup: async () => {
        const { createClient } = await import('redis');
        const client = createClient({ url: kind });
        await client.connect();
        let removed = 0;
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          const batch = Array.isArray(keys) ? keys : [keys];
          if (batch.length > 0) removed += await client.del(batch);
        }
        await client.quit();
        return removed;
      },
    };
  }
  throw new Error(`unknown store ${kind}: memory, sqlite or redis://host:port`);
}

/**
 * Starts `<root>/dist/demo/server.js` on a free loopback port. `nofile` runs it with that
 * file-descriptor limit (soft and hard, through prlimit), to reach the limit with a bounded flood.
 */
export async function startDemo({ root = thisRoot, env = {}, nofile = null } = {}) {
  const script = join(root, 'dist', 'demo', 'server.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build in ${root}`);
  const childEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env };
  for (const name of Object.keys(childEnv)) if (name.startsWith('TESSERA_') && !(name in env)) delete childEnv[name];
  const [command, args] =
    nofile === null ? [process.execPath, [script]] : ['prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, script]];
  const child = spawn(command, args, { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${output}`)), 20_000);
    const check = () => {
      const found = /tessera demo listening on (http:\/\/\S+)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolveUrl(found[1]);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`demo exited (${code}) before listening:\n${output}`)));
  });
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    pid: child.pid,
    output: () => output,
    stop: () =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) return resolveStop();
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(force);
          resolveStop();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * One HTTP request on its own connection (no agent), from `localAddress`; resolves with status,
 * headers, body and milliseconds, or `{ status: 0, error }` when the connection fails or
 * `timeoutMs` passes.
 */
export function send(port, { method = 'GET', path = '/', headers = {}, body, localAddress = '127.0.0.1', timeoutMs = 30_000 } = {}) {
  return new Promise((resolveReply) => {
    const started = performance.now();
    const finish = (reply) => resolveReply({ ...reply, ms: performance.now() - started });
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { ...headers, connection: 'close' }, localAddress, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => finish({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error) => finish({ status: 0, error: error.code ?? error.message }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error) => finish({ status: 0, error: error.code ?? error.message }));
    req.end(body);
  });
}

/** A JSON POST; `cookie` is a `name=value` pair or null. */
export function post(port, path, json, { cookie = null, localAddress, headers = {} } = {}) {
  const body = JSON.stringify(json);
  return send(port, {
    method: 'POST',
    path,
    body,
    localAddress,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(cookie ? { cookie } : {}), ...headers },
  });
}

/** The session cookie (`name=value`) a response set, or null. */
export function sessionCookie(reply) {
  const header = reply.headers?.['set-cookie'] ?? [];
  const found = header.find((c) => /^(__Host-)?tessera=[^;]/.test(c));
  return found === undefined ? null : found.split(';')[0];
}

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight; resolves with the results. */
export async function bounded(count, limit, task) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

/** Median, 95th percentile and maximum of some milliseconds, rounded to 0.1 ms. */
export function summary(values) {
  if (values.length === 0) return { n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (x) => Math.round(x * 10) / 10;
  return { n: sorted.length, medianMs: round(at(0.5)), p95Ms: round(at(0.95)), maxMs: round(sorted[sorted.length - 1]) };
}

export const sleep = (ms) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** The commit a root is at, for the printout. */
export async function describeRoot(root) {
  const { execFileSync } = await import('node:child_process');
  try {
    return `${root} @ ${execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}`;
  } catch {
    return root;
  }
}
