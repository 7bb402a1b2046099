// One app instance with the session cache on, for the multi-instance cache test and bench
// (test/cache-multi-instance.test.ts, bench/cache-revocation.mjs): several of these run as separate
// processes on one store. It uses the package's public exports only, which resolve to the build in
// dist/ (build first). Settings come from the environment:
//
//   CACHE_STORE          redis | cluster | postgres
//   CACHE_URL            redis://... (redis), postgres://... (postgres)
//   CACHE_NODES          comma-separated redis://host:port root nodes (cluster)
//   CACHE_PREFIX         the Redis key prefix (redis, cluster)
//   CACHE_SCHEMA         the PostgreSQL schema (postgres; the store creates its table there)
//   CACHE_MAX_STALENESS  the cache's maxStaleness in ms (default 1000)
//   CACHE_NAME           this instance's connection name (Redis CLIENT SETNAME, PostgreSQL
//                        application_name): how /channel finds its connections on the server
//
// It listens on 127.0.0.1 on a free port and prints `listening on http://127.0.0.1:PORT`. A session
// travels as `Authorization: Bearer <token>`. Routes (JSON answers):
//
//   POST /login?subject=S[&evict=1]  logs in a new session of S; with evict=1 through a manager whose
//                                   maxSessionsPerSubject is 1, so S's other sessions are evicted
//                                   → {token, id}
//   GET  /read                      → {isStored, servedFromCache, id, n, stats}
//   POST /inc                       increments the session's `n` → {n}
//   POST /logout                    ends the request's session → {ok}
//   POST /revoke?id=ID              → {revoked}
//   POST /revoke-all?subject=S      → {count}
//   GET  /stats                     → the cache's stats
//   GET  /channel                   this instance's connections as the server lists them: Redis's
//                                   CLIENT LIST entries named CACHE_NAME on every node ({node, id,
//                                   sub, flags, redir}), PostgreSQL's pg_stat_activity rows with
//                                   application_name CACHE_NAME ({pid, query, state})
import http from 'node:http';
import { SessionManager, errorResponse } from 'tessera-session';

const kind = process.env.CACHE_STORE ?? 'redis';
const maxStaleness = Number(process.env.CACHE_MAX_STALENESS ?? 1000);
const name = process.env.CACHE_NAME ?? `tessera-cache-${process.pid}`;
const prefix = process.env.CACHE_PREFIX ?? `tessera-cache:${process.pid}:`;

/** The store, and how /channel lists this instance's connections on the server. */
async function open() {
  if (kind === 'redis' || kind === 'cluster') {
    const { RedisStore } = await import('tessera-session/stores/redis');
    const { createClient, createCluster } = await import('redis');
    // A client given to the store, to name its connections: the channel's subscriber is a
    // duplicate of it and carries the same name.
    let client;
    let admin;
    if (kind === 'redis') {
      client = createClient({ url: process.env.CACHE_URL ?? 'redis://127.0.0.1:6379', name });
      admin = [createClient({ url: process.env.CACHE_URL ?? 'redis://127.0.0.1:6379', name: `${name}-admin` })];
    } else {
      const nodes = (process.env.CACHE_NODES ?? '').split(',').filter(Boolean);
      client = createCluster({ rootNodes: nodes.map((url) => ({ url })), defaults: { name } });
      admin = nodes.map((url) => createClient({ url, name: `${name}-admin` }));
    }
    client.on('error', () => {});
    for (const a of admin) a.on('error', () => {});
    await client.connect();
    await Promise.all(admin.map((a) => a.connect()));
    const store = new RedisStore({ client, prefix });
    const channel = async () => {
      const found = [];
      for (const a of admin) {
        const node = `${a.options?.socket?.host ?? '127.0.0.1'}:${a.options?.socket?.port ?? ''}`;
        const list = String(await a.sendCommand(['CLIENT', 'LIST']));
        for (const line of list.split('\n')) {
          const fields = Object.fromEntries(
            line
              .trim()
              .split(' ')
              .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
          );
          if (fields.name !== name) continue;
          found.push({ node, id: fields.id, sub: Number(fields.sub ?? 0), flags: fields.flags, redir: fields.redir ?? null });
        }
      }
      return found;
    };
    const close = async () => {
      await store.close();
      await client.close().catch(() => client.destroy());
      await Promise.all(admin.map((a) => a.close().catch(() => a.destroy())));
    };
    return { store, channel, close };
  }
  if (kind === 'postgres') {
    const { PostgresStore } = await import('tessera-session/stores/postgres');
    const pg = (await import('pg')).default;
    const url = new URL(process.env.CACHE_URL ?? 'postgres://127.0.0.1:5432/test');
    url.searchParams.set('application_name', name);
    const store = new PostgresStore({ connectionString: url.toString(), schema: process.env.CACHE_SCHEMA ?? 'tessera_cache' });
    const adminUrl = new URL(url);
    adminUrl.searchParams.set('application_name', `${name}-admin`);
    const admin = new pg.Pool({ connectionString: adminUrl.toString(), max: 1 });
    admin.on('error', () => {});
    const channel = async () => {
      const { rows } = await admin.query('SELECT pid, query, state FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid', [name]);
      return rows;
    };
    const close = async () => {
      await store.close();
      await admin.end();
    };
    return { store, channel, close };
  }
  throw new Error(`CACHE_STORE must be redis, cluster or postgres, not ${kind}`);
}

const { store, channel, close } = await open();
const cache = { maxStaleness };
// Revoked tokens are polled here on purpose: the per-address limit on unknown tokens is off.
const common = { store, cache, bearer: true, bruteForceLimit: false, cleanupInterval: false };
const manager = new SessionManager(common);
// Shares the cache with `manager` (one per store object): its logins evict the subject's others.
const evicting = new SessionManager({ ...common, maxSessionsPerSubject: 1 });
await manager.ready();

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  const request = { authorization: req.headers.authorization, secure: false, ip: '127.0.0.1' };
  const route = `${req.method} ${url.pathname}`;
  if (route === 'POST /login') {
    const chosen = url.searchParams.get('evict') === '1' ? evicting : manager;
    const session = await chosen.load({ secure: false, ip: '127.0.0.1' });
    await session.login(url.searchParams.get('subject') ?? 'anonymous');
    return send(res, 200, { token: session.issuedToken, id: session.id });
  }
  if (route === 'GET /read') {
    const session = await manager.load(request);
    return send(res, 200, {
      isStored: session.isStored,
      servedFromCache: session.servedFromCache,
      id: session.id,
      n: session.get('n') ?? 0,
      stats: manager.cacheStats(),
    });
  }
  if (route === 'POST /inc') {
    const session = await manager.load(request);
    if (!session.isStored) return send(res, 404, { error: 'no session' });
    return send(res, 200, { n: await session.increment('n') });
  }
  if (route === 'POST /logout') {
    const session = await manager.load(request);
    const had = session.isStored;
    await session.logout();
    return send(res, 200, { ok: had });
  }
  if (route === 'POST /revoke') return send(res, 200, { revoked: await manager.revoke(url.searchParams.get('id') ?? '') });
  if (route === 'POST /revoke-all') return send(res, 200, { count: await manager.revokeAll(url.searchParams.get('subject') ?? '') });
  if (route === 'GET /stats') return send(res, 200, manager.cacheStats());
  if (route === 'GET /channel') return send(res, 200, { pid: process.pid, name, connections: await channel() });
  return send(res, 404, { error: 'not found' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    const response = errorResponse(error);
    if (res.headersSent) res.destroy();
    else send(res, response.status, { ...response.body, message: String(error?.message ?? error) });
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});

async function stop() {
  server.close();
  server.closeAllConnections();
  manager.close();
  evicting.close();
  await close().catch(() => {});
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
