// tessera in a plain Fetch API handler, `(request: Request) => Promise<Response>`: the shape of a
// Next.js route handler, a Remix or React Router action, a SvelteKit endpoint, Bun.serve and
// Deno.serve. It imports tessera only by its public names ('tessera-session',
// 'tessera-session/stores/sqlite', 'tessera-session/adapters/fetch'), as an app that installed the
// package would; here they resolve to this repository's build, so run `npm run build` first:
//
//   npm run build && npx tsx examples/fetch/app.ts
//   curl -c jar -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//   curl -b jar -X POST http://127.0.0.1:3000/cart
//
// Node serves it here through @hono/node-server's `serve({ fetch })`, which runs any such handler;
// on Bun, `Bun.serve({ fetch: (request, server) => handle(request, server.requestIP(request)?.address ?? null) })`.
// PORT (default 3000; 0 picks a free one) and SESSIONS_DB (default ./sessions.db) configure it;
// test/examples-fetch.test.ts drives it over HTTP.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { SessionManager, type Session } from 'tessera-session';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { loadSession, sessionErrorResponse, withSession } from 'tessera-session/adapters/fetch';

const store = new SqliteStore({ path: process.env.SESSIONS_DB ?? './sessions.db' });
const sessions = new SessionManager({
  store,
  idleTimeout: 30 * 60, // seconds without a request before a session ends
  absoluteTimeout: 12 * 3600, // hard limit from login
  maxSessionsPerSubject: 5, // the oldest session is logged out beyond 5
});

const failure = (status: number, code: string, message: string) => Response.json({ error: { code, message } }, { status });

/** The app: `ip` is the client's address as the platform gives it (the socket's, here). */
async function handle(request: Request, ip: string | null): Promise<Response> {
  let headers: Headers | undefined;
  try {
    const loaded = await loadSession(sessions, request, { ip }); // behind a proxy add `trustProxy: 1`
    headers = loaded.headers;
    // Build the response once the session's writes are awaited, then add the session's headers.
    return withSession(await route(request, loaded.session), loaded.headers);
  } catch (error) {
    // Tessera's errors as {error:{code,message}} (a store outage 503 with Retry-After); anything
    // else is thrown again, for the server's own error handling (below) to log and answer.
    return sessionErrorResponse(error, headers);
  }
}

async function route(request: Request, session: Session): Promise<Response> {
  const url = new URL(request.url);
  switch (`${request.method} ${url.pathname}`) {
    case 'POST /login': {
      const body: unknown = await request.json().catch(() => undefined);
      if (body === undefined) return failure(400, 'BAD_REQUEST', 'the body is not JSON');
      const user = await checkPassword(body); // your code (a stand-in below)
      if (user === null) return failure(401, 'BAD_CREDENTIALS', 'wrong username or password');
      await session.login(user.id, { displayName: user.name }); // new token: fixation defence
      return Response.json({ ok: true });
    }
    case 'POST /cart':
      return Response.json({ items: await session.increment('items') }); // never loses a concurrent increment
    case 'GET /me/sessions':
      if (!session.isAuthenticated) return failure(401, 'NO_SESSION', 'log in first');
      return Response.json(await session.listSessions({ cursor: url.searchParams.get('cursor') }));
    case 'POST /me/logout-others':
      if (!session.isAuthenticated) return failure(401, 'NO_SESSION', 'log in first');
      return Response.json({ revoked: await session.revokeOtherSessions() });
    case 'POST /logout':
      await session.logout();
      return new Response(null, { status: 204 });
    default:
      return failure(404, 'NOT_FOUND', 'no such route');
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

const server = serve(
  {
    // The server's part: the client's address from the socket, and a bug logged and answered 500.
    fetch: (request, env) =>
      handle(request, env.incoming.socket.remoteAddress ?? null).catch((error: unknown) => {
        console.error(error); // your logger
        return failure(500, 'INTERNAL', 'internal error');
      }),
    port: Number(process.env.PORT ?? 3000),
    hostname: '127.0.0.1',
  },
  (info) => console.log(`listening on http://127.0.0.1:${info.port}`),
);

// Stop taking requests, then close the manager (its cleanup timer) and the store.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => {
      sessions.close();
      void store.close();
    });
  });
}
