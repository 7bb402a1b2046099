// (f) tessera + Express + Redis, through the `session(manager)` middleware; (n) with the session
// cache on (BENCH_CACHE).
import express from 'express';
import { env, importOrSkip, managerOptions, reportCache, stats, statsSnapshot } from '../lib/server-common.mjs';
import { openRedisStore } from '../lib/stores.mjs';

const { SessionManager } = await importOrSkip('tessera-session');
const { session, errorHandler } = await importOrSkip('tessera-session/adapters/express');
const manager = new SessionManager(managerOptions(await openRedisStore()));
reportCache(manager);

const app = express();
app.disable('x-powered-by');
app.get('/__stats', (_req, res) => res.json(statsSnapshot()));
app.use(session(manager));
app.post('/login', async (req, res) => {
  await req.session.login(String(req.query.user ?? 'anonymous'));
  res.json({ ok: true });
});
app.get('/inc', async (req, res) => {
  stats.requests++;
  res.json({ n: await req.session.increment('n') });
});
app.get('/read', (req, res) => {
  stats.requests++;
  res.json({ n: req.session.get('n') ?? 0 });
});
app.use(errorHandler());
app.listen(env.port, '127.0.0.1', () => process.stdout.write('ready\n'));
