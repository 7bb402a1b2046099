// Issue 20, "No user grows without bound, and no listing blocks the server", over HTTP against the
// built demo: one user logs in as fast as the demo lets it (8 logins in flight) for --seconds, then
// that user's GET /api/sessions (the first page, as the page asks for it) and another user's
// GET /api/sessions run side by side, 30 times each. Prints how many sessions the heavy user holds,
// each listing's latency and answer size, and the other user's latency meanwhile.
//   node bench/abuse/demo-heavy-user.mjs [--store memory|sqlite|redis://127.0.0.1:6379]
//     [--seconds 60] [--maxSessions default|unlimited|N] [--calls 30] [--root DIR]
import { bounded, describeRoot, parseArgs, post, send, sessionCookie, startDemo, storeSpec, summary, thisRoot } from './demo-lib.mjs';

const options = parseArgs({ store: 'memory', seconds: 60, maxSessions: 'default', calls: 30, root: thisRoot });
const store = storeSpec(options.store);
const env = { TESSERA_STORE: store.spec, ...(options.maxSessions !== 'default' ? { TESSERA_MAX_SESSIONS: options.maxSessions } : {}) };
const demo = await startDemo({ root: options.root, env });
try {
  const other = sessionCookie(await post(demo.port, '/api/login', { username: 'bystander' }, { localAddress: '127.0.0.3' }));

  let logins = 0;
  let failed = 0;
  let heavy = null;
  const deadline = performance.now() + options.seconds * 1000;
  await bounded(8, 8, async () => {
    while (performance.now() < deadline) {
      const reply = await post(demo.port, '/api/login', { username: 'heavy' });
      if (reply.status === 200) {
        logins++;
        heavy = sessionCookie(reply);
      } else failed++;
    }
  });

  const heavyTimes = [];
  const otherTimes = [];
  let heavyBytes = 0;
  let heavyShown = 0;
  const statuses = {};
  const count = (status) => (statuses[status] = (statuses[status] ?? 0) + 1);
  await Promise.all([
    (async () => {
      for (let i = 0; i < options.calls; i++) {
        const reply = await send(demo.port, { path: '/api/sessions', headers: { cookie: heavy } });
        count(`heavy ${reply.status}`);
        heavyTimes.push(reply.ms);
        heavyBytes = Buffer.byteLength(reply.body ?? '');
        if (reply.status === 200) heavyShown = JSON.parse(reply.body).sessions.length;
      }
    })(),
    (async () => {
      for (let i = 0; i < options.calls; i++) {
        const reply = await send(demo.port, { path: '/api/sessions', headers: { cookie: other }, localAddress: '127.0.0.3' });
        count(`other ${reply.status}`);
        otherTimes.push(reply.ms);
      }
    })(),
  ]);

  // How many sessions the heavy user holds: the pages a client can walk (100 at a time), or the one
  // unpaged answer of an older demo.
  let held = 0;
  let cursor = '';
  let pages = 0;
  do {
    const path = `/api/sessions?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    let reply = null;
    // A store that is busy (an older demo listing everything) may answer 503: try again a few times.
    for (let attempt = 0; attempt < 5 && reply?.status !== 200; attempt++)
      reply = await send(demo.port, { path, headers: { cookie: heavy } });
    if (reply?.status !== 200) {
      held = `unknown (${reply?.status} ${reply?.body?.slice(0, 100)})`;
      break;
    }
    const page = JSON.parse(reply.body);
    held += page.sessions.length;
    cursor = page.nextCursor ?? null;
    pages++;
  } while (cursor && pages < 10_000);

  console.log(
    JSON.stringify(
      {
        script: 'demo-heavy-user',
        demo: await describeRoot(options.root),
        store: options.store,
        maxSessions: options.maxSessions,
        logins: { seconds: options.seconds, succeeded: logins, failed, perSecond: Math.round(logins / options.seconds) },
        heavyUserLiveSessions: held,
        heavyUserList: { sessionsInAnswer: heavyShown, bytes: heavyBytes, ...summary(heavyTimes) },
        otherUserListMeanwhile: summary(otherTimes),
        statuses,
      },
      null,
      2,
    ),
  );
} finally {
  await demo.stop();
  await store.cleanup();
}
