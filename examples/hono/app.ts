// tessera with Hono on Node, as an app you can run. It imports tessera only by its public names
// ('tessera-session', 'tessera-session/stores/sqlite', 'tessera-session/adapters/hono'), as an app
// that installed the package would; here they resolve to this repository's build, so run
// `npm run build` first:
//
//   npm run build && npx tsx examples/hono/app.ts
//   curl -c jar -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//   curl -b jar -X POST http://127.0.0.1:3000/cart
//
// PORT (default 3000; 0 picks a free one) and SESSIONS_DB (default ./sessions.db) configure it;
// test/examples-hono.test.ts drives it over HTTP.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { SessionManager } from 'tessera-session';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { onError, session, type SessionEnv } from 'tessera-session/adapters/hono';

const store = new SqliteStore({ path: process.env.SESSIONS_DB ?? './sessions.db' });
const sessions = new SessionManager({
  store,
  idleTimeout: 30 * 60, // seconds without a request before a session ends
  absoluteTimeout: 12 * 3600, // hard limit from login
  maxSessionsPerSubject: 5, // the oldest session is logged out beyond 5
});

const app = new Hono<SessionEnv>();
// The client's address from the socket (@hono/node-server); behind a proxy add `trustProxy: 1`.
app.use(session(sessions, { ip: (c) => getConnInfo(c).remote.address }));
app.onError(onError); // tessera's errors as {error:{code,message}} (a store outage 503), others logged and 500

// Your guard: a route after it runs only for a logged-in session.
const requireLogin = createMiddleware<SessionEnv>(async (c, next) => {
  if (!c.var.session.isAuthenticated) return c.json({ error: { code: 'NO_SESSION', message: 'log in first' } }, 401);
  await next();
});

app.post('/login', async (c) => {
  const body: unknown = await c.req.json().catch(() => undefined);
  if (body === undefined) return c.json({ error: { code: 'BAD_REQUEST', message: 'the body is not JSON' } }, 400);
  const user = await checkPassword(body); // your code (a stand-in below)
  if (user === null) return c.json({ error: { code: 'BAD_CREDENTIALS', message: 'wrong username or password' } }, 401);
  await c.var.session.login(user.id, { displayName: user.name }); // new token: fixation defence
  return c.json({ ok: true });
});
app.post('/cart', async (c) => c.json({ items: await c.var.session.increment('items') })); // never loses a concurrent increment
app.get('/me/sessions', requireLogin, async (c) => c.json(await c.var.session.listSessions({ cursor: c.req.query('cursor') ?? null })));
app.post('/me/logout-others', requireLogin, async (c) => c.json({ revoked: await c.var.session.revokeOtherSessions() }));
app.post('/logout', async (c) => {
  await c.var.session.logout();
  return c.body(null, 204);
});

// A stand-in for your user database: one user, alice, password "wonderland", kept as a salted
// scrypt hash (made at start-up) and compared in constant time; an unknown name costs the same
// hash. Requests hash off the event loop.
const hashPassword = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;
const aliceSalt = randomBytes(16);
const users = new Map([['alice', { id: 'user-1', name: 'Alice', salt: aliceSalt, hash: scryptSync('wonderland', aliceSalt, 32) }]]);
const nobody = { salt: randomBytes(16), hash: Buffer.alloc(32) };

async function checkPassword(body: unknown): Promise<{ id: string; name: string } | null> {
  const { username, password } = (body ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== 'string' || typeof password !== 'string' || password.length > 1024) return null;
  const user = users.get(username);
  const hash = await hashPassword(password, (user ?? nobody).salt, 32);
  if (!timingSafeEqual(hash, (user ?? nobody).hash) || user === undefined) return null;
  return { id: user.id, name: user.name };
}

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}`);
});

// Stop taking requests, then close the manager (its cleanup timer) and the store.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => {
      sessions.close();
      void store.close();
    });
  });
}
