// (b) The floor for a Redis-backed counter: hand-written node:http, one pipelined HINCRBY +
// PEXPIRE per increment (one HGET per read) on the key the cookie names. No validation, no
// expiry rules, no security: what no session library can beat.
import { randomBytes } from 'node:crypto';
import { cookieValue, env, IDLE_SECONDS, json, listenNode, redisClient, serveStats, stats } from '../lib/server-common.mjs';

const client = await redisClient();
const ttlMs = IDLE_SECONDS * 1000;

listenNode(async (req, res) => {
  if (serveStats(req, res)) return;
  try {
    if (req.url.startsWith('/login')) {
      const sid = randomBytes(24).toString('base64url');
      const user = new URL(req.url, 'http://x').searchParams.get('user') ?? 'anonymous';
      await client
        .multi()
        .hSet(env.prefix + sid, 'user', user)
        .pExpire(env.prefix + sid, ttlMs)
        .execAsPipeline();
      return json(res, 200, { ok: true }, { 'set-cookie': `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` });
    }
    const sid = cookieValue(req.headers.cookie, 'sid');
    if (sid === null) return json(res, 401, { error: 'no session' });
    const key = env.prefix + sid;
    if (req.url === '/inc') {
      stats.requests++;
      const [n] = await client.multi().hIncrBy(key, 'n', 1).pExpire(key, ttlMs).execAsPipeline();
      return json(res, 200, { n: Number(n) });
    }
    if (req.url === '/read') {
      stats.requests++;
      const n = await client.hGet(key, 'n');
      return json(res, 200, { n: Number(n ?? 0) });
    }
    json(res, 404, { error: 'not found' });
  } catch (error) {
    json(res, 500, { error: String(error?.message ?? error) });
  }
});
