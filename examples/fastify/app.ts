// tessera with Fastify, as an app you can run. It imports tessera only by its public names
// ('tessera-session', 'tessera-session/stores/sqlite', 'tessera-session/adapters/fastify'), as an
// app that installed the package would; here they resolve to this repository's build, so run
// `npm run build` first:
//
//   npm run build && npx tsx examples/fastify/app.ts
//   curl -c jar -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//   curl -b jar -X POST http://127.0.0.1:3000/cart
//
// PORT (default 3000; 0 picks a free one) and SESSIONS_DB (default ./sessions.db) configure it;
// test/examples-fastify.test.ts drives it over HTTP.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { SessionManager } from 'tessera-session';
import { requireAuth, session } from 'tessera-session/adapters/fastify';
import { SqliteStore } from 'tessera-session/stores/sqlite';

const store = new SqliteStore({ path: process.env.SESSIONS_DB ?? './sessions.db' });
const sessions = new SessionManager({
  store,
  idleTimeout: 30 * 60, // seconds without a request before a session ends
  absoluteTimeout: 12 * 3600, // hard limit from login
  maxSessionsPerSubject: 5, // the oldest session is logged out beyond 5
});

// Behind a reverse proxy, name it so request.ip and request.protocol (which tessera reads) believe
// its X-Forwarded-* headers: Fastify({ trustProxy: '10.0.0.2' }).
const app = Fastify();
// Not encapsulated: every route below gets request.session. Register it inside one of your plugins
// to give sessions to that plugin's routes only. tessera's errors (401 NO_SESSION, a store outage
// 503 with Retry-After) are answered as {error:{code,message}}; others go on to Fastify's handler.
await app.register(session, { manager: sessions });

interface Credentials {
  Body: { username?: unknown; password?: unknown } | null;
}
app.post<Credentials>('/login', async (request, reply) => {
  const user = await checkPassword(request.body); // your code (a stand-in below)
  if (user === null) return reply.code(401).send({ error: { code: 'BAD_CREDENTIALS', message: 'wrong username or password' } });
  await request.session.login(user.id, { displayName: user.name }); // new token: fixation defence
  return { ok: true };
});
app.post('/cart', async (request) => ({ items: await request.session.increment('items') })); // never loses a concurrent increment
app.get<{ Querystring: { cursor?: string } }>('/me/sessions', { preHandler: requireAuth() }, (request) =>
  request.session.listSessions({ cursor: request.query.cursor ?? null }),
); // a page: { sessions, nextCursor }
app.post('/me/logout-others', { preHandler: requireAuth() }, async (request) => ({
  revoked: await request.session.revokeOtherSessions(),
}));
app.post('/logout', async (request, reply) => {
  await request.session.logout();
  return reply.code(204).send();
});
// On close: the manager (its cleanup timer), then the store.
app.addHook('onClose', async () => {
  sessions.close();
  await store.close();
});

// A stand-in for your user database: one user, alice, password "wonderland", kept as a salted
// scrypt hash (made at start-up) and compared in constant time; an unknown name costs the same
// hash. Requests hash off the event loop.
const hashPassword = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;
const aliceSalt = randomBytes(16);
const users = new Map([['alice', { id: 'user-1', name: 'Alice', salt: aliceSalt, hash: scryptSync('wonderland', aliceSalt, 32) }]]);
const nobody = { salt: randomBytes(16), hash: Buffer.alloc(32) };

async function checkPassword(body: Credentials['Body']): Promise<{ id: string; name: string } | null> {
  const { username, password } = body ?? {};
  if (typeof username !== 'string' || typeof password !== 'string' || password.length > 1024) return null;
  const user = users.get(username);
  const hash = await hashPassword(password, (user ?? nobody).salt, 32);
  if (!timingSafeEqual(hash, (user ?? nobody).hash) || user === undefined) return null;
  return { id: user.id, name: user.name };
}

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on ${address}`);

// Stop taking requests, finish those under way, then run the onClose hooks.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
