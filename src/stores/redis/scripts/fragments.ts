/**
 * Lua that several scripts share. Keys a script derives itself (`skey`, `rkey`, `ukey`: the `s:`
 * of an id found in an index, the `u:` of a subject) carry the same `{shard}` hash tag as a
 * declared key, so on a cluster they live in the declared key's slot.
 */

/**
 * Adds an integer to a hash field in place. An absent or non-integer value counts as 0, as in
 * record-ops.ts (safe integers only): HINCRBY refuses a non-integer, and a result that moved by
 * more than a safe integer means the old value was not one.
 */
export const ADD = `
local function add(key, field, delta)
  local n = redis.pcall('HINCRBY', key, field, delta)
  if type(n) ~= 'number' or math.abs(n - delta) > 9007199254740991 then redis.call('HSET', key, field, delta) end
end
`;

/** expiresAt from lastSeenAt, idle timeout (s) and absolute expiry: `expiresAt` in the core's expiry.ts. */
export const EXPIRES_AT = `
local function expiresAt(ls, it, ax) return math.min(ls + it * 1000, ax) end
`;

/** Entries of a subject index at most, that counting it walks whole (see `live` in the prelude). */
export const COUNT_WALK = 128;
/** Expired entries of a shard's expiry index at most, that counting a larger subject index looks at. */
export const EXPIRED_WALK = 1000;

/**
 * Idempotency keys (ApplyOptions.idempotency): KEYS[i] is the change set's key, if any; its value
 * is `until` on the core's clock (so that a test clock can pass it), its TTL `until - now`. A
 * change set whose key is there and not yet past is answered {'duplicate', hash} and applies
 * nothing; an applied one writes the key, a conflict or a gone session writes nothing.
 */
export const IDEMPOTENCY = `
local function seen(k, now)
  if not k then return false end
  local untilMs = redis.call('GET', k)
  return untilMs ~= false and now < tonumber(untilMs)
end
local function remember(k, untilMs, now)
  if k and untilMs > now then redis.call('SET', k, string.format('%.17g', untilMs), 'PX', math.ceil(untilMs - now)) end
end
`;

/**
 * Shared helpers, prepended to every script but INCREMENT. ARGV[1] is always the key prefix.
 * `counted`: on a single node the scripts keep `P n`, the number of entries in all expiry indexes,
 * so that count need not ZCARD every shard; on a cluster no script can reach one global key.
 * `retention`: milliseconds a session hash outlives its expiry (`expiredRetention`), so that the
 * sweep still finds its subject; written into the text, so it costs no argument per call.
 */
export function prelude(counted: boolean, retention: number): string {
  if (!Number.isSafeInteger(retention) || retention < 0) throw new RangeError('retention is a whole number of milliseconds');
  return `${ADD}${EXPIRES_AT}
local P = ARGV[1]
local RETAIN = ${retention}
local N = ${counted ? "P .. 'n'" : 'false'}
-- Adjusted only while it exists: when it is missing (new, flushed, evicted), count rebuilds it
-- from the indexes, and an increment here would make up a wrong one.
local function tally(delta)
  if N and delta ~= 0 and redis.call('EXISTS', N) == 1 then redis.call('INCRBY', N, delta) end
end
-- A logged-in session's subject, in its shard's 'w' hash from its creation until it leaves its
-- expiry index: so that the sweep reports an expired session's subject (and its notice carries
-- it) even after Redis dropped the session's hash by its TTL.
local function wkey(id) return P .. 'w:{' .. string.sub(id, 1, 2) .. '}' end
-- Every expiry-index write goes through these two, so that 'n' follows (and 'w' on removal).
local function xadd(xkey, ex, id) tally(redis.call('ZADD', xkey, ex, id)) end
local function xrem(xkey, id)
  tally(-redis.call('ZREM', xkey, id))
  redis.call('HDEL', wkey(id), id)
end
-- The entries of the indexes named in ARGV from position 'first' on: what 'n' should hold.
local function entries(first)
  local total = 0
  for i = first, #ARGV do total = total + redis.call('ZCARD', ARGV[i]) end
  return total
end
local function num(n) return string.format('%.17g', n) end
-- Byte order, as JavaScript compares ids: Lua's own string '<' follows the server's locale.
local function lt(a, b)
  local n = math.min(#a, #b)
  for k = 1, n do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function skey(id) return P .. 's:{' .. string.sub(id, 1, 2) .. '}' .. string.sub(id, 3) end
local function rkey(id) return P .. 'r:{' .. string.sub(id, 1, 2) .. '}' .. string.sub(id, 3) end
local function ukey(id, sub) return P .. 'u:{' .. string.sub(id, 1, 2) .. '}' .. sub end
-- The outbox of a shard (see "The outbox" in docs/stores/redis.md): 'o' its notice ids by due
-- time, 'b' their bodies (JSON: t type, s session id, u subject, r reason, a at, n attempts), 'a'
-- their ids by 'at' (for the cap). A session's notices live in its shard, so the script that
-- removes it records them.
local function okey(sh) return P .. 'o:{' .. sh .. '}' end
local function bkey(sh) return P .. 'b:{' .. sh .. '}' end
local function akey(sh) return P .. 'a:{' .. sh .. '}' end
-- On a single node, 'oh' holds the shards whose outbox may hold notices, each scored by at most its
-- earliest due time, so that a claim or a count of an empty outbox reads one key rather than every
-- shard (its member '' says it is complete; see 'shards' in scripts/outbox.ts); on a cluster no
-- script can reach one global key. 'held' records a new notice due at 'due' in shard 'sh'.
-- 'oc' counts the notices, adjusted only while it exists (as 'n' is); a count rebuilds it.
local OH, OC = N and (P .. 'oh'), N and (P .. 'oc')
local function noted(delta)
  if OC and delta ~= 0 and redis.call('EXISTS', OC) == 1 then redis.call('INCRBY', OC, delta) end
end
local function held(sh, due)
  if not OH then return end
  redis.call('ZADD', OH, 'LT', due, sh)
  noted(1)
end
-- Session 'id' of subject 'sub' (false: none) ended at 'at' for 'reason': its notice, due at 'due'.
local function ended(id, sub, reason, at, due)
  local sh, nid = string.sub(id, 1, 2), 'session.ended:' .. id
  local body = cjson.encode({t = 'session.ended', s = id, u = sub or cjson.null, r = reason, a = num(at), n = 0})
  if redis.call('HSETNX', bkey(sh), nid, body) == 1 then
    redis.call('ZADD', okey(sh), due, nid)
    redis.call('ZADD', akey(sh), at, nid)
    held(sh, due)
  end
end
-- A shard's display-name index: members 'name NUL id', all scored 0, so that ZRANGEBYLEX finds a
-- prefix (see QUERY). Its member '' says the index holds every session of the shard: set when
-- the shard's first session is created, or by HEAL for shards written before the index existed.
local function nkey(id) return P .. 'd:{' .. string.sub(id, 1, 2) .. '}' end
local function named(id, dn) if dn then redis.call('ZADD', nkey(id), 0, dn .. '\\0' .. id) end end
local function unnamed(id, dn) if dn then redis.call('ZREM', nkey(id), dn .. '\\0' .. id) end end
-- The subject index lives at least as long as its longest-lived entry: its scores are createdAt,
-- so its TTL is kept here, and only ever moved later (a shorter one could drop live entries).
local function ulive(u, ex, now)
  local want = math.max(1, math.ceil(ex - now))
  local left = redis.call('PTTL', u)
  if left ~= -2 and left < want then redis.call('PEXPIRE', u, want) end
end
-- The last device is stored only while it differs from the creating one (it usually does not);
-- 'created' and 'last' are the hash's 'cd' and 'ld'. Nothing is written when nothing changes.
local function lastDevice(key, device, created, last)
  if device == (last or created) then return end
  if device == created then redis.call('HDEL', key, 'ld') else redis.call('HSET', key, 'ld', device) end
end
-- expiresAt from a hash's 'ls', 'it', 'ax' (as HMGET returns them), or nil when absent.
local function expiry(r)
  if not r[1] then return nil end
  return expiresAt(tonumber(r[1]), tonumber(r[2]), tonumber(r[3]))
end
-- A login or rotation removed session 'id' at 'now': its secret hashes as they opened it then
-- ('sh', and 'ph' while its grace period 'pe' lasts) are remembered until 'untilMs' (the core's
-- clock, so the TTL is relative), for isSuperseded.
local function supersede(id, sh, ph, pe, now, untilMs)
  if not sh or untilMs <= now then return end
  local v = num(untilMs) .. ' ' .. sh
  if ph and ph ~= '' and pe and pe ~= '' and now < tonumber(pe) then v = v .. ' ' .. ph end
  redis.call('SET', rkey(id), v, 'PX', math.ceil(untilMs - now))
end
-- Past its expiry every read refuses the session; Redis drops the hash RETAIN ms later.
local function keep(key, ex, now)
  redis.call('PEXPIRE', key, math.max(1, math.ceil(ex - now + RETAIN)))
end
-- A session's expiry moved (or it is new): its TTL, its expiry index entry and the TTL of its
-- subject index follow (its subject index entry, scored by createdAt, stays where it is).
local function expireAt(key, xkey, id, sub, ex, now)
  keep(key, ex, now)
  xadd(xkey, ex, id)
  if sub then ulive(ukey(id, sub), ex, now) end
end
-- What an entry of subject 'sub''s index names: 'live', 'dead' (expired, or not the subject's) or
-- 'gone' (its hash deleted by hand, or dropped by Redis past its retention).
local function state(id, sub, now)
  local r = redis.call('HMGET', skey(id), 'ls', 'it', 'ax', 'sub')
  if not r[1] then return 'gone' end
  if now >= expiry(r) or r[4] ~= sub then return 'dead' end
  return 'live'
end
-- An entry met that names no live session leaves its subject index. An expired session stays in
-- its expiry index (and keeps its hash) for the sweep to report; one whose hash is gone leaves it too.
local function drop(u, xkey, id, st)
  redis.call('ZREM', u, id)
  if st == 'gone' then xrem(xkey, id) end
end
-- The rank in 'u' of the first entry after (score, id): entries are ordered by score, then by id
-- in byte order, as Redis orders equal scores. Found by halving among the entries of that score,
-- so it costs O(log^2 n) however many share it, and does not need the entry itself to exist.
local function after(u, score, id)
  local lo = redis.call('ZCOUNT', u, '-inf', '(' .. score)
  local hi = redis.call('ZCOUNT', u, '-inf', score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if lt(id, redis.call('ZRANGE', u, mid, mid)[1]) then hi = mid else lo = mid + 1 end
  end
  return lo
end
-- Live sessions in subject index 'u' (of expiry index 'xkey'), in one bounded step. An index of at
-- most ${COUNT_WALK} entries is walked whole, so the count is exact and heals entries whose hash
-- was deleted by hand. A larger one counts its entries less those that the shard's expiry index
-- shows expired (at most ${EXPIRED_WALK} of them, the oldest expiries first, trimmed as they are
-- met): exact unless a hash was deleted by hand or more expired sessions wait for the sweep.
local function live(u, xkey, sub, now)
  local n = redis.call('ZCARD', u)
  -- 1 when the entry names no live session (and is dropped), else 0
  local function dead(id)
    local st = state(id, sub, now)
    if st == 'live' then return 0 end
    drop(u, xkey, id, st)
    return 1
  end
  if n <= ${COUNT_WALK} then
    for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do n = n - dead(id) end
    return n
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', xkey, '-inf', now, 'LIMIT', 0, ${EXPIRED_WALK})) do
    if redis.call('ZSCORE', u, id) then n = n - dead(id) end
  end
  return n
end
`;
}
