// Shared by the bench/abuse/sqlite-* and postgres-* scripts: a server process of their own (so the
// client's timers and the server's event loop are measured apart), a paced request loop, and
// summaries. Loopback only; every loop is bounded by a duration or a count.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { SessionManager } from 'tessera-session';

/**
 * `DATABASE_URL`, or the test database on loopback; without a user name there (and no PGUSER or
 * USER to fall back on) as `postgres`, as the test suites do.
 */
export const DATABASE_URL =
  process.env.DATABASE_URL ??
  (process.env.PGUSER || process.env.USER ? 'postgres://127.0.0.1:5432/test' : 'postgres://postgres@127.0.0.1:5432/test');

/** Starts `script` with `args` as a child process; resolves once it sends `{ port }`. */
export function startServer(script, args) {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    child.once('message', (message) => {
      resolve({
        url: `http://127.0.0.1:${message.port}`,
        child,
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners('exit');
            child.once('exit', done);
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** Milliseconds one request took, and its status (or the network error that ended it). */
export async function timed(url, init) {
  const started = performance.now();
  try {
    const response = await fetch(url, init);
    const body = await response.text();
    return { ms: performance.now() - started, status: response.status, body };
  } catch (error) {
    return { ms: performance.now() - started, status: `failed: ${error.cause?.code ?? error.message}`, body: '' };
  }
}

/**
 * Sends a request every `everyMs` (the next one `everyMs` after the previous one was sent, or at
 * once if it took longer), one at a time, until `until()` is true or `maxRequests` were sent.
 */
export async function paced(send, { everyMs, until, maxRequests = 100_000 }) {
  const results = [];
  while (!until() && results.length < maxRequests) {
    const started = performance.now();
    results.push(await send());
    const left = everyMs - (performance.now() - started);
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  }
  return results;
}

/**
 * Open loop: starts a request every `everyMs` for `durationMs`, whether or not earlier ones have
 * answered (at most `maxInFlight` at once), as independent users would; resolves with every result.
 * A server that stalls shows in the latencies of all the requests that arrived meanwhile.
 */
export async function openLoop(send, { everyMs, durationMs, maxInFlight = 500 }) {
  const started = performance.now();
  const pending = [];
  let inFlight = 0;
  for (let i = 0; ; i++) {
    const at = started + i * everyMs;
    if (at - started >= durationMs) break;
    const wait = at - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (inFlight >= maxInFlight) continue;
    inFlight++;
    pending.push(
      send().finally(() => {
        inFlight--;
      }),
    );
  }
  return Promise.all(pending);
}

export function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]));
  return {
    n: sorted.length,
    median: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.length === 0 ? null : round(sorted[sorted.length - 1]),
  };
}

export function round(ms) {
  return Math.round(ms * 10) / 10;
}

/** A random session id or hash as the core makes them (base64url). */
export function randomId(bytes = 21) {
  return randomBytes(bytes).toString('base64url');
}

/** What else ran on the machine: the 1-minute load average at the start and end. */
export function machine() {
  return { loadavg1: round(loadavg()[0]) };
}

/** Reads the whole request body as text. */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

/**
 * The server process every sqlite-* and postgres-* script runs: one store, one manager, and the
 * routes they ask for. GET /login?user= (default `other`) logs a new session in and answers its
 * token; GET /list?user= a page of 50 of that user's sessions; GET /me loads the session by
 * cookie (another user's request); GET /sweep runs one `manager.sweep()` and answers how long the
 * event loop was held at a time meanwhile. Tells the parent its port; stops on SIGTERM.
 */
export async function serveSessions(store) {
  const manager = new SessionManager({ store, cleanupInterval: false });
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/login') {
        const session = await manager.load({ secure: false, ip: '127.0.0.1' });
        await session.login(url.searchParams.get('user') ?? 'other');
        await session.set('theme', 'dark');
        res.end(session.issuedToken);
      } else if (url.pathname === '/list') {
        const page = await manager.list(url.searchParams.get('user'), { limit: 50 });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(page));
      } else if (url.pathname === '/me') {
        const session = await manager.load({ cookie: req.headers.cookie, secure: false, ip: '127.0.0.1' });
        res.end(String(session.subject));
      } else if (url.pathname === '/sweep') {
        const delay = monitorEventLoopDelay({ resolution: 1 });
        delay.enable();
        const started = performance.now();
        const removed = await manager.sweep();
        const ms = Math.round(performance.now() - started);
        delay.disable();
        res.end(
          JSON.stringify({
            removed,
            ms,
            eventLoopDelayMs: { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
          }),
        );
      } else {
        res.statusCode = 404;
        res.end();
      }
    } catch (error) {
      res.statusCode = error.status ?? 500;
      res.end(String(error.message));
    }
  });
  // A first store call before listening, so connecting (PostgreSQL's pool) is not measured.
  await store.count({ now: Date.now() });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('SIGTERM', () => server.close(() => store.close().then(() => process.exit(0))));
}

/**
 * The heavy-user measurement against a started server whose store holds `heavy` sessions of user
 * `heavy`: the listing alone, another user's requests alone, then another user's requests (every
 * 10 ms, open loop) while the listing is requested back to back. Prints the figures as JSON.
 */
export async function measureHeavyUser(server, { store, heavy, fillMs, start, concurrentMs }) {
  const token = (await timed(`${server.url}/login?user=other`, { method: 'POST' })).body;
  const me = () => timed(`${server.url}/me`, { headers: { cookie: `tessera=${token}` } });
  const list = () => timed(`${server.url}/list?user=heavy`);
  for (let i = 0; i < 20; i++) await me();
  const alone = await paced(me, { everyMs: 5, until: () => false, maxRequests: 200 });
  const listed = [];
  for (let i = 0; i < 10; i++) listed.push(await list());
  let listing = true;
  const during = [];
  const lister = (async () => {
    while (listing) during.push(await list());
  })();
  const others = await openLoop(me, { everyMs: 10, durationMs: concurrentMs });
  listing = false;
  await lister;
  const page = JSON.parse(listed[0].body);
  console.log(
    JSON.stringify(
      {
        store,
        heavySessions: heavy,
        fillMs: Math.round(fillMs),
        listing: {
          sessionsReturned: Array.isArray(page) ? page.length : page.sessions.length,
          nextCursor: Array.isArray(page) ? 'n/a (61cada9)' : page.nextCursor !== null,
          responseBytes: listed[0].body.length,
          latencyMs: summary(listed.map((r) => r.ms)),
        },
        otherUserAloneMs: summary(alone.map((r) => r.ms)),
        otherUserWhileListingMs: summary(others.map((r) => r.ms)),
        listingsDuringThat: during.length,
        statuses: [...new Set([...alone, ...others].map((r) => r.status))],
        machine: { start, end: machine() },
      },
      null,
      2,
    ),
  );
}
