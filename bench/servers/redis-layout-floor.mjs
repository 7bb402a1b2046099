// (l) The floor for tessera's Redis layout: hand-written node:http over the same keys and the
// same scripts as (g), with none of the library. Per increment: the token's secret hashed, one
// HGETALL, the secret and the expiry checked, one EVALSHA of the store's own INCREMENT script
// (one round trip to load, one to save, as the issue asks of tessera); per read, the HGETALL and
// the checks. Sessions are made by tessera's own login, so the hashes are the real ones.
//
// Set beside (b), it splits the distance from tessera to the one-round-trip floor in two: what the
// layout itself costs (two round trips and a script instead of one pipelined HINCRBY), and what
// the library adds on top (cookie and token parsing, records, the session object, change sets).
import { cookieValue, env, importOrSkip, json, listenNode, redisClient, serveStats, stats } from '../lib/server-common.mjs';
import { openRedisStore } from '../lib/stores.mjs';
import { tesseraNodeHandler } from '../lib/tessera-node.mjs';

const { defaultOptions, expiresAt, hashSecret, hashesEqual, parseToken, SHARD_LENGTH } = await importOrSkip('tessera-session');
// Not a public export: the store's scripts, from the build the other variants run.
const { INCREMENT, SCRIPT_FLAGS, withShebang } = await importOrSkip(
  new URL('../../dist/src/stores/redis/scripts/index.js', import.meta.url).href,
);

const client = await redisClient();
const incrementSha = await client.scriptLoad(withShebang(INCREMENT, SCRIPT_FLAGS.increment));

/** The live session hash named by the request's cookie, as a field → value object, or null. */
async function loadHash(req) {
  const parsed = parseToken(cookieValue(req.headers.cookie, defaultOptions.cookie.name) ?? '');
  if (parsed === null) return null;
  const secretHash = hashSecret(parsed.secret);
  // The store's session key (see the layout in docs/stores/redis.md).
  const key = `${env.prefix}s:{${parsed.id.slice(0, SHARD_LENGTH)}}${parsed.id.slice(SHARD_LENGTH)}`;
  const flat = await client.sendCommand(['HGETALL', key]);
  const hash = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]] = flat[i + 1];
  if (hash.sh === undefined || !hashesEqual(secretHash, hash.sh)) return null;
  if (Date.now() >= expiresAt(Number(hash.ls), Number(hash.it), Number(hash.ax))) return null;
  return { key, hash };
}

// tessera serves /login (and nothing else), so that the sessions are exactly (g)'s.
const tessera = await tesseraNodeHandler(await openRedisStore());

listenNode(async (req, res) => {
  if (serveStats(req, res)) return;
  try {
    if (req.url === '/inc' || req.url === '/read') {
      stats.requests++;
      const session = await loadHash(req);
      if (session === null) return json(res, 401, { error: 'no session' });
      const n = Number(session.hash['d:n'] ?? 0);
      if (req.url === '/read') return json(res, 200, { n });
      const reply = await client.sendCommand([
        'EVALSHA',
        incrementSha,
        '1',
        session.key,
        env.prefix,
        String(Date.now()),
        session.hash.v,
        'd:n',
        '1',
      ]);
      if (reply === null) return json(res, 401, { error: 'no session' });
      // {'ok'}: nothing else changed the session in between; otherwise the stored hash follows.
      let stored = n + 1;
      if (reply[1] !== undefined)
        for (let i = 0; i + 1 < reply[1].length; i += 2) if (reply[1][i] === 'd:n') stored = Number(reply[1][i + 1]);
      return json(res, 200, { n: stored });
    }
    await tessera.handler(req, res);
  } catch (error) {
    json(res, 500, { error: String(error?.message ?? error) });
  }
});
