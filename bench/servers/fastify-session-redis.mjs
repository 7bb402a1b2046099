// (d) fastify + @fastify/session + @fastify/cookie + connect-redis. Plugin defaults (rolling:
// true saves the session on every request), except saveUninitialized false and a plain-HTTP
// cookie with the same 30-minute lifetime as the other variants.
import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { env, IDLE_SECONDS, redisClient, stats } from '../lib/server-common.mjs';

const { RedisStore } = await import('connect-redis');
const client = await redisClient();

const app = Fastify({ logger: false });
app.register(fastifyCookie);
app.register(fastifySession, {
  store: new RedisStore({ client, prefix: env.prefix }),
  secret: 'bench-secret-bench-secret-bench-secret-bench',
  saveUninitialized: false,
  cookie: { secure: false, httpOnly: true, sameSite: 'lax', maxAge: IDLE_SECONDS * 1000 },
});
app.get('/__stats', async () => stats);
app.post('/login', async (req) => {
  await req.session.regenerate();
  req.session.set('user', String(req.query.user ?? 'anonymous'));
  return { ok: true };
});
app.get('/inc', async (req) => {
  stats.requests++;
  const n = (req.session.get('n') ?? 0) + 1;
  req.session.set('n', n);
  return { n };
});
app.get('/read', async (req) => {
  stats.requests++;
  return { n: req.session.get('n') ?? 0 };
});
await app.listen({ port: env.port, host: '127.0.0.1' });
process.stdout.write('ready\n');
