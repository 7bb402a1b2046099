// Issue 20, "no listing blocks the server", on the Redis store: one user with 57,000 sessions.
//   npm run build && node bench/abuse/redis-heavy-user.mjs
// On a redis-server of its own (see redis-server.mjs; BENCH_REDIS_URL to use another, which must be
// empty of the prefix `heavy:`), it creates HEAVY_SESSIONS (57,000) sessions of user `heavy` with
// store.create, 200 in flight, and one session of user `other`. Then, with the store's default
// commandTimeout (500 ms), it calls `manager.list('heavy')` once to load the scripts, then
// LIST_CALLS (30) times in a row (the
// whole listing before issue 20, its first page of 50 after) while a second manager, on a
// connection of its own, loads `other`'s session every 2 ms, as another user of the same app.
// It prints, as `result <json>`:
//   list: the time of each manager.list call (median, p99, max), the sessions it answered, how
//     many calls failed (503 at the 500 ms command timeout: the listing took longer), and the
//     scripts that ran (how many, their mean server time from INFO commandstats; those over 1 ms,
//     from SLOWLOG: how many, p99 and longest): how long Redis served nobody else;
//   other: the other user's load latency while the listing ran, and how many of those loads failed
//     (503: StoreUnavailableError at the 500 ms command timeout);
//   queryBySubject: the same for QUERY_CALLS (3) calls of manager.query({ subject: 'heavy' }),
//     the admin search (ordered by id, so it reads the whole index, in bounded steps after issue 20).
// Works on the manager API before issue 20 (list returns every session) and after (a page).
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { bounded, commandCalls, loginRecord, slowlog, startRedis, summary } from './redis-server.mjs';

const HEAVY = Number(process.env.HEAVY_SESSIONS ?? 57_000);
const LIST_CALLS = Number(process.env.LIST_CALLS ?? 30);
const QUERY_CALLS = 3;
const PREFIX = 'heavy:';

const tessera = await import('tessera-session');
const { RedisStore } = await import('tessera-session/stores/redis');

const own = process.env.BENCH_REDIS_URL === undefined ? await startRedis() : null;
const url = process.env.BENCH_REDIS_URL ?? own.url;
const admin = createClient({ url });
admin.on('error', () => {});
await admin.connect();
const store = new RedisStore({ url, prefix: PREFIX });
const otherStore = new RedisStore({ url, prefix: PREFIX });
const manager = new tessera.SessionManager({ store, cleanupInterval: false, maxSessionsPerSubject: Number.POSITIVE_INFINITY });
const otherManager = new tessera.SessionManager({ store: otherStore, cleanupInterval: false });

try {
  const now = Date.now();
  const partition = await store.subjectPartition('heavy');
  const started = performance.now();
  await bounded(HEAVY, 200, async () => {
    const result = await store.create(loginRecord('heavy', partition, now, 1800), { now });
    if (result.status !== 'created') throw new Error(`create: ${result.status}`);
  });
  const createSeconds = (performance.now() - started) / 1000;
  const login = await otherManager.load({ secure: false });
  await login.login('other');
  const cookie = `${otherManager.cookieName(false)}=${login.issuedToken}`;
  await otherManager.load({ cookie, secure: false });

  await manager.list('heavy').catch(() => null); // loads the script: the measured calls are the steady state
  // Scripts' own commands are logged too, so only those over 1 ms are: the scripts that took long.
  await admin.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', '1000']);
  await admin.sendCommand(['CONFIG', 'SET', 'slowlog-max-len', '100000']);
  await admin.sendCommand(['SLOWLOG', 'RESET']);
  await admin.sendCommand(['CONFIG', 'RESETSTAT']);

  const otherTimes = [];
  let otherFailures = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      const at = performance.now();
      try {
        const session = await otherManager.load({ cookie, secure: false });
        if (session.subject !== 'other') throw new Error('the other user lost their session');
      } catch (error) {
        if (error?.code !== 'STORE_UNAVAILABLE') throw error;
        otherFailures++;
      }
      otherTimes.push(performance.now() - at);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();

  const listTimes = [];
  let answered = 0;
  let listFailures = 0;
  for (let i = 0; i < LIST_CALLS; i++) {
    const at = performance.now();
    try {
      const listed = await manager.list('heavy');
      answered = Array.isArray(listed) ? listed.length : listed.sessions.length;
    } catch (error) {
      if (error?.code !== 'STORE_UNAVAILABLE') throw error;
      listFailures++;
    }
    listTimes.push(performance.now() - at);
  }
  running = false;
  await probe;
  const listScripts = { ...(await commandCalls(admin)).evalsha, over1ms: (await slowlog(admin)).evalsha ?? null };

  // The admin search by subject, ordered by id: not a listing, but it reads the same index.
  await admin.sendCommand(['SLOWLOG', 'RESET']);
  await admin.sendCommand(['CONFIG', 'RESETSTAT']);
  const queryTimes = [];
  let queryFailures = 0;
  for (let i = 0; i < QUERY_CALLS; i++) {
    const at = performance.now();
    try {
      await manager.query({ subject: 'heavy', limit: 50 });
    } catch (error) {
      if (error?.code !== 'STORE_UNAVAILABLE') throw error;
      queryFailures++;
    }
    queryTimes.push(performance.now() - at);
  }
  const queryScripts = { ...(await commandCalls(admin)).evalsha, over1ms: (await slowlog(admin)).evalsha ?? null };

  process.stdout.write(
    `result ${JSON.stringify({
      sessions: HEAVY,
      createSeconds: Math.round(createSeconds * 10) / 10,
      list: { ...summary(listTimes), sessionsAnswered: answered, failures503: listFailures, scripts: listScripts },
      other: { ...summary(otherTimes), failures503: otherFailures },
      queryBySubject: { ...summary(queryTimes), failures503: queryFailures, scripts: queryScripts },
    })}\n`,
  );
} finally {
  manager.close();
  otherManager.close();
  await store.close();
  await otherStore.close();
  admin.destroy();
  own?.stop();
}
