import { randomBytes } from 'node:crypto';
import { cookieValue, env, IDLE_SECONDS, json, listenNode, redisClient, serveStats, stats } from '../lib/server-common.mjs';
const client = await redisClient();
const ttlMs = IDLE_SECONDS * 1000;
const script = `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]) redis.call('HINCRBY', KEYS[1], 'v', 1) return n`;
const sha = await client.scriptLoad(script);
listenNode(async (req, res) => {
  if (serveStats(req, res)) return;
  try {
    if (req.url.startsWith('/login')) {
      const sid = randomBytes(24).toString('base64url');
      await client.multi().hSet(env.prefix + sid, {user: 'x', sh: 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq', ca: String(Date.now()), ls: String(Date.now()), ex: String(Date.now()+1e6), v: '1'}).pExpire(env.prefix + sid, ttlMs).execAsPipeline();
      return json(res, 200, { ok: true }, { 'set-cookie': `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` });
    }
    const sid = cookieValue(req.headers.cookie, 'sid');
    if (sid === null) return json(res, 401, { error: 'no session' });
    const key = env.prefix + sid;
    if (req.url === '/inc') {
      stats.requests++;
      const h = await client.sendCommand(['HGETALL', key]);
      const n = await client.sendCommand(['EVALSHA', sha, '1', key, 'd:n', '1']);
      return json(res, 200, { n: Number(n) });
    }
    json(res, 404, { error: 'not found' });
  } catch (error) {
    json(res, 500, { error: String(error?.message ?? error) });
  }
});
