// tessera on Koa, as an app you can run. It imports tessera only by its public names
// ('tessera-session', 'tessera-session/stores/sqlite', 'tessera-session/adapters/koa'), as an app
// that installed the package would; here they resolve to this repository's build, so run
// `npm run build` first:
//
//   npm run build && npx tsx examples/koa/app.ts
//   curl -c jar -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//   curl -b jar -X POST http://127.0.0.1:3000/cart
//
// PORT (default 3000; 0 picks a free one) and SESSIONS_DB (default ./sessions.db) configure it;
// test/examples-koa.test.ts drives it over HTTP. Routing is a plain table to keep the example to
// Koa itself; with @koa/router, mount session(sessions) the same way.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import Koa, { type Context } from 'koa';
import { SessionManager } from 'tessera-session';
import { session } from 'tessera-session/adapters/koa';
import { SqliteStore } from 'tessera-session/stores/sqlite';

const store = new SqliteStore({ path: process.env.SESSIONS_DB ?? './sessions.db' });
const sessions = new SessionManager({
  store,
  idleTimeout: 30 * 60, // seconds without a request before a session ends
  absoluteTimeout: 12 * 3600, // hard limit from login
  maxSessionsPerSubject: 5, // the oldest session is logged out beyond 5
});

const app = new Koa();
// Yours, first: what session() passes on (a bug, a bad body) is logged and answered here. tessera's
// own errors never reach it: session() answers them as {error:{code,message}} (401 NO_SESSION,
// a store outage 503 with Retry-After).
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (error) {
    const expose = (error as { expose?: unknown }).expose === true;
    if (!expose) console.error(error); // your logger
    ctx.status = expose ? (error as { status: number }).status : 500;
    ctx.body = { error: { code: expose ? 'BAD_REQUEST' : 'INTERNAL', message: expose ? (error as Error).message : 'internal error' } };
  }
});
app.use(session(sessions));

const routes: Record<string, (ctx: Context) => Promise<void>> = {
  'POST /login': async (ctx) => {
    const user = await checkPassword(await readJson(ctx)); // your code (a stand-in below)
    if (user === null) {
      ctx.status = 401;
      ctx.body = { error: { code: 'BAD_CREDENTIALS', message: 'wrong username or password' } };
      return;
    }
    await ctx.session.login(user.id, { displayName: user.name }); // new token: fixation defence
    ctx.body = { ok: true };
  },
  'POST /cart': async (ctx) => {
    ctx.body = { items: await ctx.session.increment('items') }; // never loses a concurrent increment
  },
  'GET /me/sessions': async (ctx) => {
    // A page: { sessions, nextCursor }; without a login, listSessions() throws NO_SESSION (401).
    const cursor = ctx.query.cursor;
    ctx.body = await ctx.session.listSessions({ cursor: typeof cursor === 'string' ? cursor : null });
  },
  'POST /me/logout-others': async (ctx) => {
    ctx.body = { revoked: await ctx.session.revokeOtherSessions() };
  },
  'POST /logout': async (ctx) => {
    await ctx.session.logout();
    ctx.status = 204;
  },
};
app.use(async (ctx) => {
  await routes[`${ctx.method} ${ctx.path}`]?.(ctx);
});

/** The request's JSON body, at most 1 KiB; a malformed or larger one is the client's 400 or 413. */
async function readJson(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json')) ctx.throw(415, 'send JSON');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024) ctx.throw(413, 'body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return ctx.throw(400, 'malformed JSON');
  }
}

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

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
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
