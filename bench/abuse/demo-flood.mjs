// Issue 20, "Anonymous traffic cannot push logged-in users out", over HTTP against the built demo:
// 100 users log in (from 127.0.0.3), then one client (127.0.0.1) sends cookieless
// POST /api/session/increment on 50 keep-alive connections for 5 s: each answered 200 is a new
// anonymous session. Prints the anonymous sessions created per second, the answers by status, and
// how many of the 100 users are still logged in afterwards.
//   node bench/abuse/demo-flood.mjs [--store memory|sqlite|redis://127.0.0.1:6379] [--seconds 5]
//     [--connections 50] [--users 100] [--root DIR] [--anonymousLimit default|unlimited|N]
// --root runs another checkout's build (e.g. the last main, for the figure before the change).
import autocannon from 'autocannon';
import { describeRoot, parseArgs, post, send, sessionCookie, startDemo, storeSpec, thisRoot } from './demo-lib.mjs';

const options = parseArgs({ store: 'memory', seconds: 5, connections: 50, users: 100, root: thisRoot, anonymousLimit: 'default' });
const store = storeSpec(options.store);
const env = {
  TESSERA_STORE: store.spec,
  ...(options.anonymousLimit !== 'default' ? { TESSERA_ANONYMOUS_LIMIT: options.anonymousLimit } : {}),
};
const demo = await startDemo({ root: options.root, env });
try {
  const users = [];
  for (let i = 0; i < options.users; i++) {
    const login = await post(demo.port, '/api/login', { username: `user${i}` }, { localAddress: '127.0.0.3' });
    if (login.status !== 200) throw new Error(`login ${i}: ${login.status} ${login.body}`);
    users.push(sessionCookie(login));
  }

  const body = JSON.stringify({ field: 'views' });
  const result = await autocannon({
    url: `${demo.url}/api/session/increment`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: options.connections,
    duration: options.seconds,
  });
  const byStatus = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([status, { count }]) => [status, Number(count)]));
  const created = byStatus['200'] ?? 0;

  let loggedIn = 0;
  for (const cookie of users) {
    const reply = await send(demo.port, { path: '/api/session', headers: { cookie }, localAddress: '127.0.0.3' });
    if (reply.status === 200) loggedIn++;
  }
  console.log(
    JSON.stringify(
      {
        script: 'demo-flood',
        demo: await describeRoot(options.root),
        store: options.store,
        anonymousLimit: options.anonymousLimit,
        flood: {
          seconds: options.seconds,
          connections: options.connections,
          requests: result.requests.total,
          errors: result.errors,
          timeouts: result.timeouts,
          byStatus,
        },
        anonymousSessionsCreated: created,
        anonymousSessionsPerSecond: Math.round(created / options.seconds),
        usersStillLoggedIn: `${loggedIn}/${options.users}`,
      },
      null,
      2,
    ),
  );
} finally {
  await demo.stop();
  await store.cleanup();
}
