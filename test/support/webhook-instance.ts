// One app instance that ends sessions and delivers their webhooks, run as its own process by
// test/webhooks-processes.test.ts (several at once, or killed and started again). It imports tessera
// by its package names, which resolve to the build in dist/. Settings come from the environment:
//
//   WEBHOOK_STORE            sqlite | redis | redis-cluster | postgres, with WEBHOOK_SQLITE_PATH, or
//                            WEBHOOK_REDIS_URL + WEBHOOK_REDIS_PREFIX, or WEBHOOK_REDIS_NODES (comma-separated
//                            redis:// URLs) + WEBHOOK_REDIS_PREFIX, or WEBHOOK_PG_URL + WEBHOOK_PG_SCHEMA
//   WEBHOOK_URL, WEBHOOK_SECRET   the receiver and its whsec_ secret
//   WEBHOOK_CLOCK_OFFSET_MS  added to this process's clock (an instance started "later", past a lease)
//   WEBHOOK_TIMEOUT          the delivery timeout in seconds (default 2)
//
// It listens on 127.0.0.1 on a free port and prints `listening on http://127.0.0.1:PORT`. Routes:
//   POST /login?subject=S  → {id}       POST /revoke?id=ID → {revoked}       GET /backlog → {count}
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, SessionManager, type SessionStore } from 'tessera-session';
import { sessionWebhooks } from 'tessera-session/webhooks';

const env = process.env;

async function open(): Promise<SessionStore> {
  switch (env.WEBHOOK_STORE) {
    case 'sqlite': {
      const { SqliteStore } = await import('tessera-session/stores/sqlite');
      return new SqliteStore({ path: env.WEBHOOK_SQLITE_PATH as string });
    }
    case 'redis': {
      const { RedisStore } = await import('tessera-session/stores/redis');
      return new RedisStore({ url: env.WEBHOOK_REDIS_URL as string, prefix: env.WEBHOOK_REDIS_PREFIX as string });
    }
    case 'redis-cluster': {
      const { RedisStore } = await import('tessera-session/stores/redis');
      const rootNodes = (env.WEBHOOK_REDIS_NODES as string).split(',');
      return new RedisStore({ cluster: { rootNodes }, prefix: env.WEBHOOK_REDIS_PREFIX as string });
    }
    case 'postgres': {
      const { PostgresStore } = await import('tessera-session/stores/postgres');
      return new PostgresStore({ connectionString: env.WEBHOOK_PG_URL as string, schema: env.WEBHOOK_PG_SCHEMA as string });
    }
    default:
      throw new Error(`WEBHOOK_STORE must be sqlite, redis, redis-cluster or postgres, not ${env.WEBHOOK_STORE}`);
  }
}

const offset = Number(env.WEBHOOK_CLOCK_OFFSET_MS ?? 0);
const clock: Clock = { now: () => Date.now() + offset };
const store = await open();
const webhooks = sessionWebhooks({
  url: env.WEBHOOK_URL as string,
  secret: env.WEBHOOK_SECRET as string,
  timeout: Number(env.WEBHOOK_TIMEOUT ?? 2),
  pollInterval: 0.1,
});
const manager = new SessionManager({ store, clock, webhooks, cleanupInterval: false, bearer: true });
await manager.ready();

function send(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  try {
    if (req.method === 'POST' && url.pathname === '/login') {
      const session = await manager.load({ secure: false, ip: '127.0.0.1', userAgent: 'webhook-instance' });
      await session.login(url.searchParams.get('subject') ?? 'someone');
      return send(res, { id: session.id });
    }
    if (req.method === 'POST' && url.pathname === '/revoke') {
      return send(res, { revoked: await manager.revoke(url.searchParams.get('id') ?? '', 'admin') });
    }
    if (url.pathname === '/backlog') return send(res, { count: await manager.options.outbox?.countNotices() });
    res.writeHead(404).end();
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
