// README.md's "Express in a minute" as an app you can run. It imports tessera only by its public
// names ('tessera-session', 'tessera-session/stores/sqlite', 'tessera-session/adapters/express'), as an app that installed
// the package would; here they resolve to this repository's build, so run `npm run build` first:
//
//   npm run build && npx tsx examples/express/app.ts
//   curl -c jar -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//   curl -b jar -X POST http://127.0.0.1:3000/cart
//
// PORT (default 3000; 0 picks a free one) and SESSIONS_DB (default ./sessions.db) configure it;
// test/examples.test.ts drives it over HTTP.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express, { type ErrorRequestHandler } from 'express';
import { SessionManager } from 'tessera-session';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { errorHandler, requireAuth, session } from 'tessera-session/adapters/express';

const store = new SqliteStore({ path: process.env.SESSIONS_DB ?? './sessions.db' });
const sessions = new SessionManager({
  store,
  idleTimeout: 30 * 60, // seconds without a request before a session ends
  absoluteTimeout: 12 * 3600, // hard limit from login
  maxSessionsPerSubject: 5, // the oldest session is logged out beyond 5
});

const app = express();
app.use(express.json());
app.use(session(sessions));

app.post('/login', async (req, res) => {
  const user = await checkPassword(req.body); // your code (a stand-in below)
  if (user === null) {
    res.status(401).json({ error: { code: 'BAD_CREDENTIALS', message: 'wrong username or password' } });
    return;
  }
  await req.session.login(user.id, { displayName: user.name }); // new token: fixation defence
  res.json({ ok: true });
});
app.post('/cart', async (req, res) => {
  res.json({ items: await req.session.increment('items') }); // never loses a concurrent increment
});
app.get('/me/sessions', requireAuth(), async (req, res) =>
  res.json(await req.session.listSessions({ cursor: typeof req.query.cursor === 'string' ? req.query.cursor : null })),
); // a page: { sessions, nextCursor }
app.post('/me/logout-others', requireAuth(), async (req, res) => res.json({ revoked: await req.session.revokeOtherSessions() }));
app.post('/logout', async (req, res) => {
  await req.session.logout();
  res.status(204).end();
});
app.use(errorHandler()); // tessera's errors as {error:{code,message}} (401 NO_SESSION, a store outage 503); others go on
// Yours, after errorHandler(): a bug is logged and answered 500; express.json()'s 400 and 413 keep their status.
const appErrors: ErrorRequestHandler = (error, _req, res, next) => {
  if (res.headersSent) return next(error);
  const status = error?.expose === true ? error.status : 500;
  if (status === 500) console.error(error); // your logger
  res
    .status(status)
    .json({ error: { code: status === 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status === 500 ? 'internal error' : error.message } });
};
app.use(appErrors);

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

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', (error) => {
  if (error) throw error;
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
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
