// (q) tessera + Fastify + Redis, through the `tessera-session/adapters/fastify` plugin
// (`app.register(session, { manager })`); (r) with the session cache on (BENCH_CACHE). Same routes
// and handler shapes as (d) and (p).
import Fastify from 'fastify';
import { env, importOrSkip, managerOptions, reportCache, stats, statsSnapshot } from '../lib/server-common.mjs';
import { openRedisStore } from '../lib/stores.mjs';

const { SessionManager } = await importOrSkip('tessera-session');
const { session } = await importOrSkip('tessera-session/adapters/fastify');
const manager = new SessionManager(managerOptions(await openRedisStore()));
reportCache(manager);

const app = Fastify({ logger: false });
app.get('/__stats', async () => statsSnapshot());
await app.register(session, { manager });
app.post('/login', async (request) => {
  await request.session.login(String(request.query.user ?? 'anonymous'));
  return { ok: true };
});
app.get('/inc', async (request) => {
  stats.requests++;
  return { n: await request.session.increment('n') };
});
app.get('/read', async (request) => {
  stats.requests++;
  return { n: request.session.get('n') ?? 0 };
});
await app.listen({ port: env.port, host: '127.0.0.1' });
process.stdout.write('ready\n');
