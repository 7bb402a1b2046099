// (p) Fastify with no sessions at all: static JSON, the same routes and handler shapes as the
// Fastify session variants (d) and (q). The baseline for "the session layer costs Fastify users
// under 15%" on reads.
import Fastify from 'fastify';
import { env, stats } from '../lib/server-common.mjs';

const app = Fastify({ logger: false });
app.get('/__stats', async () => stats);
app.post('/login', async () => ({ ok: true }));
app.get('/inc', async () => {
  stats.requests++;
  return { n: 0 };
});
app.get('/read', async () => {
  stats.requests++;
  return { n: 0 };
});
await app.listen({ port: env.port, host: '127.0.0.1' });
process.stdout.write('ready\n');
