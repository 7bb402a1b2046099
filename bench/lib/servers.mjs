// The variants' server processes (bench/servers/<id>.mjs): each started on a free loopback port
// with its own key prefix and schema, waited for until it prints `ready` (or `skip <reason>`),
// then given its live sessions through its own login route.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { bounded } from './async.mjs';
import { stopChild, trackChild } from './children.mjs';
import { BENCH_DIR, cfg, childEnv, pgSchemaRoot, redisPrefixRoot, sqlitePath } from './config.mjs';
import { log } from './log.mjs';

const variantSchema = (variant) => `${pgSchemaRoot}_${variant.id.replace(/-/g, '_')}`;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `variant`'s server; resolves with its status: ready, skipped or failed. */
function startServer(variant) {
  return new Promise((resolve) => {
    const env = {
      ...childEnv,
      PORT: String(variant.port),
      BENCH_PREFIX: `${redisPrefixRoot}${variant.id}:`,
      BENCH_PG_SCHEMA: variantSchema(variant),
      BENCH_SQLITE_PATH: sqlitePath,
      BENCH_CACHE: variant.cache ? '1' : '',
    };
    variant.prefix = env.BENCH_PREFIX;
    variant.schema = env.BENCH_PG_SCHEMA;
    const child = trackChild(
      spawn(process.execPath, [join(BENCH_DIR, 'servers', `${variant.server ?? variant.id}.mjs`)], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    variant.child = child;
    let stdout = '';
    let stderr = '';
    let settled = false;
    const settle = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => settle({ status: 'failed', reason: `no "ready" within 30 s. ${stderr.slice(-500)}` }), 30_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      for (const line of stdout.split('\n')) {
        if (line === 'ready') settle({ status: 'ready' });
        else if (line.startsWith('skip ')) settle({ status: 'skipped', reason: line.slice(5) });
      }
      if (stdout.length > 10_000) stdout = stdout.slice(-1000);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
      variant.stderr = stderr;
    });
    child.on('exit', (code, signal) => {
      const reason = `exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-6).join(' | ').slice(0, 800)}`;
      if (settled && !child.stopping && variant.status?.status === 'ready') {
        // A server that dies mid-run is a finding, not noise: report it and stop driving it.
        variant.status = { status: 'crashed', reason };
        log(`${variant.id}: crashed: ${reason}`);
      }
      settle({ status: 'failed', reason });
    });
  });
}

/**
 * `GET /__stats` of a running server: the requests and SQL statements it has counted so far, and
 * its session cache's `cacheStats()` (null without a cache).
 */
export async function serverStats(variant) {
  const res = await fetch(`http://127.0.0.1:${variant.port}/__stats`, { signal: AbortSignal.timeout(5000) });
  return res.json();
}

/** Logs `count` users in and returns their cookies (`name=value`). */
async function createSessions(variant, count) {
  if (!variant.sessions) {
    // Same request size as a tessera cookie, ignored by the server.
    return Array.from({ length: count }, () => `tessera=${randomBytes(21).toString('base64url')}.${randomBytes(32).toString('base64url')}`);
  }
  const cookies = new Array(count);
  await bounded(count, 16, async (i) => {
    const res = await fetch(`http://127.0.0.1:${variant.port}/login?user=user-${i}`, {
      method: 'POST',
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    const setCookie = res.headers.getSetCookie()[0];
    if (res.status !== 200 || !setCookie) throw new Error(`login of user-${i} answered ${res.status} without a cookie`);
    cookies[i] = setCookie.split(';')[0];
  });
  return cookies;
}

/**
 * Starts `variant`'s server and logs its users in, leaving the outcome in `variant.status`
 * (`ready` with `variant.cookies`, or why not). A variant that already has a status (its
 * backend is unreachable) is left alone.
 */
export async function setUpVariant(variant, pgPool) {
  if (variant.status) return;
  if (variant.backend === 'postgres') await pgPool.query(`CREATE SCHEMA IF NOT EXISTS "${variantSchema(variant)}"`);
  for (let attempt = 0; attempt < 3; attempt++) {
    variant.port = await freePort();
    variant.status = await startServer(variant);
    if (!/EADDRINUSE/.test(variant.status.reason ?? '')) break; // another process took the port meanwhile
  }
  if (variant.status.status !== 'ready') {
    log(`${variant.id}: ${variant.status.status}: ${variant.status.reason}`);
    return;
  }
  try {
    variant.cookies = await createSessions(variant, cfg.sessions);
    log(`${variant.id}: ready on ${variant.port}, ${variant.sessions ? `${cfg.sessions} users logged in` : 'no sessions'}`);
  } catch (error) {
    variant.status = { status: 'failed', reason: `setup: ${error.message}. ${variant.stderr ?? ''}`.slice(0, 600) };
    log(`${variant.id}: failed: ${variant.status.reason}`);
    await stopChild(variant.child);
  }
}
