// Shared plumbing for the benchmark servers in bench/servers/. Each server is its own process:
// it reads its settings from the environment, listens on 127.0.0.1:$PORT and prints `ready`
// (or `skip <reason>` and exits with SKIP_EXIT when what it needs is not there yet).
//
// Every server answers the same routes, so run.mjs drives them all alike:
//   POST /login?user=ID  log the user in; the response sets the session cookie (setup only)
//   GET  /inc            read the session named by the cookie, increment `n`, answer {"n":N}
//   GET  /read           read the session, answer {"n":N}; no writes
//   GET  /__stats        {"requests":R,"queries":Q,"cache":C}: workload requests served, for the
//                        PostgreSQL variants SQL statements sent, and for tessera with its cache
//                        on, `manager.cacheStats()` (not counted as a request)
import http from 'node:http';

export const SKIP_EXIT = 3;

export const env = {
  port: Number(process.env.PORT ?? 0),
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test',
  /** Redis key prefix of this variant in this run (ends with ':'). */
  prefix: process.env.BENCH_PREFIX ?? `tessera-bench:${process.pid}:`,
  /** PostgreSQL schema of this variant in this run (run.mjs creates and drops it). */
  schema: process.env.BENCH_PG_SCHEMA ?? 'tessera_bench',
  sqlitePath: process.env.BENCH_SQLITE_PATH ?? `/tmp/tessera-bench-${process.pid}.db`,
  /** Whether tessera's in-process session cache is on (the `+ cache` variants). */
  cache: process.env.BENCH_CACHE === '1',
};

/** Idle timeout used by every variant with sessions: 30 minutes, sliding. */
export const IDLE_SECONDS = 1800;

export const stats = { requests: 0, queries: 0, statements: {} };
/** The tessera manager whose `cacheStats()` /__stats reports, when its cache is on. */
let cacheSource = null;
/** Distinct statement texts kept in `stats.statements`, so the report can show what each request sends. */
const MAX_STATEMENT_TEXTS = 40;

/** Prints the reason and exits so run.mjs reports the variant as skipped. */
export function skip(reason) {
  process.stdout.write(`skip ${String(reason).replace(/\s+/g, ' ').slice(0, 300)}\n`);
  process.exit(SKIP_EXIT);
}

/** Imports a module that may not exist yet (a store still being written): skips the variant if so. */
export async function importOrSkip(specifier) {
  try {
    return await import(specifier);
  } catch (error) {
    skip(`${specifier} not available: ${error?.code ?? ''} ${error?.message ?? error}`);
  }
}

/** The first export of `mod` among `names` (stores may export a named class or a default). */
export function pick(mod, names, specifier) {
  for (const name of names) if (typeof mod[name] === 'function') return mod[name];
  skip(`${specifier} has no export ${names.join(' / ')}`);
}

/**
 * Counts every SQL statement this process sends through `pg`: wraps `Client.prototype.query`,
 * which `Pool.query` and both stores end up calling once per statement. Must run before a store
 * opens its pool. A multi-statement string would count once; neither store sends one per request.
 */
export async function countPgStatements() {
  const pg = (await import('pg')).default;
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(...args) {
    stats.queries++;
    const config = args[0];
    const text = String(typeof config === 'string' ? config : (config?.text ?? '?'))
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 160);
    if (text in stats.statements || Object.keys(stats.statements).length < MAX_STATEMENT_TEXTS)
      stats.statements[text] = (stats.statements[text] ?? 0) + 1;
    return original.apply(this, args);
  };
  return pg;
}

/** Reads `name` from a Cookie header. */
export function cookieValue(header, name) {
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

export function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The options every tessera server gives its `SessionManager`: the variants' idle timeout and, for
 * the `+ cache` variants, the cache with its defaults. Call `reportCache(manager)` after.
 */
export function managerOptions(store) {
  return { store, idleTimeout: IDLE_SECONDS, ...(env.cache ? { cache: true } : {}) };
}

/** Has /__stats report `manager.cacheStats()` too. */
export function reportCache(manager) {
  cacheSource = manager;
}

/** What /__stats answers. */
export function statsSnapshot() {
  return { ...stats, cache: cacheSource?.cacheStats?.() ?? null };
}

/** Answers /__stats; returns true when it did. Used by node:http servers. */
export function serveStats(req, res) {
  if (req.url !== '/__stats') return false;
  json(res, 200, statsSnapshot());
  return true;
}

/** `http.createServer(handler)`, listening on 127.0.0.1:$PORT, then `ready`. */
export function listenNode(handler) {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 30_000;
  server.listen(env.port, '127.0.0.1', () => process.stdout.write('ready\n'));
  return server;
}

/** Connects a node-redis client with bounded timeouts, or skips the variant. */
export async function redisClient() {
  const { createClient } = await import('redis');
  const client = createClient({ url: env.redisUrl, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    skip(`Redis at ${env.redisUrl} unreachable: ${error?.message ?? error}`);
  }
  return client;
}

process.on('SIGTERM', () => process.exit(0));
process.on('unhandledRejection', (error) => {
  process.stderr.write(`unhandled rejection: ${error?.stack ?? error}\n`);
});
