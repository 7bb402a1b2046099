// (d) fastify + @fastify/session + @fastify/cookie + connect-redis, the standard Fastify stack.
// Production options: saveUninitialized false (no store write for a visitor who never logs in),
// an httpOnly, SameSite=Lax cookie (plain HTTP: the bench is loopback, so secure is off) with the
// same 30-minute lifetime as the other variants, and rolling: true (the plugin's default), made
// explicit because it is the only way @fastify/session slides an idle timeout: it never calls a
// store's touch, so with rolling: false a session that is only read would expire 30 minutes after
// its last write, a weaker rule than tessera's and express-session's sliding one. The price is a
// SET of the whole session on every read; increments write it either way, so the increment
// figures do not depend on this choice.
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
  rolling: true,
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
