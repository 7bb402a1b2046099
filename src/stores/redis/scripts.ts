/**
 * The Lua side of the Redis store. Each script is one atomic step and one round trip; together
 * they implement `core/expiry.ts` and `core/record-ops.ts` (touch rule, expiry formula, change-set
 * order; a subject's sessions ordered by createdAt, then id) exactly. Numbers are written back
 * with `%.17g`, so that millisecond timestamps never turn into `1.8e+12`.
 *
 * The store sends each with a Redis 7 shebang that declares its flags (see `SCRIPT_FLAGS`).
 * Without one, Redis checks `maxmemory` only at a script's first write, and a script whose first
 * write removes nothing (as CREATE's trim of the subject index did) was let through however full
 * Redis was; with one, a script that may grow memory is refused before it starts.
 *
 * Keys a script derives itself (`u:` of a subject, `s:` of an id found in an index) always carry
 * the same `{shard}` hash tag as a declared key, so they live in the declared key's slot on a
 * cluster.
 */

/**
 * Adds an integer to a hash field in place. An absent or non-integer value counts as 0, as in
 * record-ops.ts (safe integers only): HINCRBY refuses a non-integer, and a result that moved by
 * more than a safe integer means the old value was not one.
 */
const ADD = `
local function add(key, field, delta)
  local n = redis.pcall('HINCRBY', key, field, delta)
  if type(n) ~= 'number' or math.abs(n - delta) > 9007199254740991 then redis.call('HSET', key, field, delta) end
end
`;

/** expiresAt from lastSeenAt, idle timeout (s) and absolute expiry: `expiresAt` in the core's expiry.ts. */
const EXPIRES_AT = `
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
const IDEMPOTENCY = `
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
-- Every expiry-index write goes through these two, so that 'n' follows.
local function xadd(xkey, ex, id) tally(redis.call('ZADD', xkey, ex, id)) end
local function xrem(xkey, id) tally(-redis.call('ZREM', xkey, id)) end
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
  if n <= ${COUNT_WALK} then
    for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do
      local st = state(id, sub, now)
      if st ~= 'live' then
        drop(u, xkey, id, st)
        n = n - 1
      end
    end
    return n
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', xkey, '-inf', now, 'LIMIT', 0, ${EXPIRED_WALK})) do
    if redis.call('ZSCORE', u, id) then
      local st = state(id, sub, now)
      if st ~= 'live' then
        drop(u, xkey, id, st)
        n = n - 1
      end
    end
  end
  return n
end
`;
}

/**
 * load. KEYS: session, its expiry index. ARGV: prefix, id, now, secretHash|'', maxIntervalMs|'' (no
 * touch), idleFraction, lastDevice|''. Returns the hash as a flat array, or nil when there is no
 * live session. The caller checks the secret itself; the script checks it only before a touch,
 * so that nobody without the secret can keep a session alive. A read inside the touch window
 * costs one HMGET and the HGETALL it returns.
 */
export const LOAD = (prelude: string): string => `${prelude}
local key, xkey, id, now = KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[3])
-- One read serves both paths: a touch needs the other fields, and a read-only load can spare them.
local m = redis.call('HMGET', key, 'ls', 'it', 'ax', 'sh', 'ph', 'pe', 'cd', 'ld', 'sub')
if not m[1] then return false end
local ls, it, ax = tonumber(m[1]), tonumber(m[2]), tonumber(m[3])
if now >= expiresAt(ls, it, ax) then return false end
if ARGV[5] ~= '' and now - ls >= math.min(tonumber(ARGV[5]), math.floor(it * 1000 * tonumber(ARGV[6]))) then
  -- Compared as digests, so the time taken says nothing about where two hashes differ. The
  -- previous secret (left by a renewal) still opens the session until its grace period ends.
  if ARGV[4] ~= '' then
    local want = redis.sha1hex(ARGV[4])
    local ok = want == redis.sha1hex(m[4])
    if not ok and m[5] and m[5] ~= '' and m[6] and m[6] ~= '' and now < tonumber(m[6]) then
      ok = want == redis.sha1hex(m[5])
    end
    if not ok then return false end
  end
  local ex = expiresAt(now, it, ax)
  redis.call('HSET', key, 'ls', num(now))
  if ARGV[7] ~= '' then lastDevice(key, ARGV[7], m[7], m[8]) end
  expireAt(key, xkey, id, m[9], ex, now)
end
return redis.call('HGETALL', key)
`;

/**
 * apply. KEYS: session, its expiry index, and its idempotency key when the change set has one.
 * ARGV: prefix, id, now, expectedVersion|'', idleTimeout|'',
 * lastSeenAt|'', lastDevice|'', displayName mode ('' keep, 'n' null, 's' set), displayName,
 * renewal ('' or '1', then secretHash, renewedAt, previousSecretHash, previousSecretExpiresAt),
 * baseVersion|'', then counted lists: deletes, sets (field, JSON), increments (field, delta), then
 * (with an idempotency key) until when it is remembered.
 * Returns {'ok'} when the hash was at baseVersion before this change (the caller derives the
 * result from its base record), else {'ok', flat hash}; {'conflict', flat hash}; {'duplicate',
 * flat hash}; or nil (gone).
 */
export const APPLY = (prelude: string): string => `${prelude}${IDEMPOTENCY}
local key, xkey, id, now = KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[3])
local cur = redis.call('HMGET', key, 'v', 'ls', 'it', 'ax', 'sub')
if not cur[1] then return false end
local v, ls, it, ax = tonumber(cur[1]), tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4])
local before = expiresAt(ls, it, ax)
if now >= before then return false end
-- Before the version check: the first attempt of a retried compare-and-set moved the version.
if seen(KEYS[3], now) then return {'duplicate', redis.call('HGETALL', key)} end
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= v then
  return {'conflict', redis.call('HGETALL', key)}
end
if ARGV[10] == '1' then redis.call('HSET', key, 'sh', ARGV[11], 'rn', ARGV[12], 'ph', ARGV[13], 'pe', ARGV[14]) end
local i = 16
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HDEL', key, 'd:' .. ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', key, 'd:' .. ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  add(key, 'd:' .. ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
if ARGV[6] ~= '' then ls = math.max(ls, tonumber(ARGV[6])) end
if ARGV[5] ~= '' then it = tonumber(ARGV[5]) end
local ex = expiresAt(ls, it, ax)
if ARGV[5] ~= '' or ARGV[6] ~= '' then
  redis.call('HSET', key, 'ls', num(ls), 'it', num(it), 'v', num(v + 1))
else
  redis.call('HSET', key, 'v', num(v + 1))
end
if ARGV[7] ~= '' then
  local d = redis.call('HMGET', key, 'cd', 'ld')
  lastDevice(key, ARGV[7], d[1], d[2])
end
if ARGV[8] == 'n' then redis.call('HDEL', key, 'dn') elseif ARGV[8] == 's' then redis.call('HSET', key, 'dn', ARGV[9]) end
-- The TTL and the indexes follow the expiry; most changes (an increment) leave it where it was.
if ex ~= before then expireAt(key, xkey, id, cur[5], ex, now) end
if KEYS[3] then remember(KEYS[3], tonumber(ARGV[i]), now) end
if ARGV[15] ~= '' and tonumber(ARGV[15]) == v then return {'ok'} end
return {'ok', redis.call('HGETALL', key)}
`;

/**
 * apply, for the commonest change set: integer increments and nothing else (no sets, deletes,
 * timeout, device, name or renewal), which leaves the expiry where it is. The general APPLY does
 * the same for these, with a dozen more Lua steps. KEYS: session, and its idempotency key when
 * the change set has one. ARGV: prefix (unused), now, baseVersion|'', then (field, delta) pairs,
 * fields already with their 'd:', then (with an idempotency key) until when it is remembered.
 * Returns what APPLY returns.
 */
export const INCREMENT = `${ADD}${EXPIRES_AT}${IDEMPOTENCY}
local key, now = KEYS[1], tonumber(ARGV[2])
local cur = redis.call('HMGET', key, 'v', 'ls', 'it', 'ax')
if not cur[1] or now >= expiresAt(tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4])) then return false end
if seen(KEYS[2], now) then return {'duplicate', redis.call('HGETALL', key)} end
local last = KEYS[2] and #ARGV - 1 or #ARGV
for i = 4, last, 2 do add(key, ARGV[i], tonumber(ARGV[i + 1])) end
local v = redis.call('HINCRBY', key, 'v', 1)
if KEYS[2] then remember(KEYS[2], tonumber(ARGV[#ARGV]), now) end
if ARGV[3] ~= '' and tonumber(ARGV[3]) == v - 1 then return {'ok'} end
return {'ok', redis.call('HGETALL', key)}
`;

/**
 * create. KEYS: new session, its expiry index, then (same slot only) the replaced session and
 * its expiry index (another shard's, when the replaced session was anonymous).
 * ARGV: prefix, id, now, expiresAt, subject|'', replacesId|'', replacesVersion, supersededUntil,
 * limitMax|'', createdAt, then field/value pairs of the new hash. The replaced session's hashes are
 * remembered in its 'r:' key (same slot) until supersededUntil.
 * With a limit, refuses when the subject already has `limitMax` live sessions besides the replaced
 * one, counted by `live` (one bounded step); it never evicts: the core trims (TRIM) once the login
 * has succeeded.
 * Returns {'created'}, {'limit'} or {'gone'}; an error on a duplicate id.
 */
export const CREATE = (prelude: string): string => `${prelude}
local key, xkey, id, now, ex, sub = KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local rid = ARGV[6]
if redis.call('EXISTS', key) == 1 then return redis.error_reply('ERR tessera: duplicate session id') end
local rsub, replaced = false, nil
if rid ~= '' then
  replaced = redis.call('HMGET', KEYS[3], 'ls', 'it', 'ax', 'v', 'sub', 'sh', 'ph', 'pe')
  if not replaced[1] or now >= expiry(replaced) or tonumber(replaced[4]) ~= tonumber(ARGV[7]) then return {'gone'} end
  rsub = replaced[5]
end
if sub ~= '' and ARGV[9] ~= '' then
  local u = ukey(id, sub)
  local others = live(u, xkey, sub, now)
  -- The replaced session (a login again from a logged-in one) is live, and counted there.
  if rid ~= '' and redis.call('ZSCORE', u, rid) then others = others - 1 end
  if others >= tonumber(ARGV[9]) then return {'limit'} end
end
if rid ~= '' then
  redis.call('DEL', KEYS[3])
  xrem(KEYS[4], rid)
  if rsub then redis.call('ZREM', ukey(rid, rsub), rid) end
  supersede(rid, replaced[6], replaced[7], replaced[8], now, tonumber(ARGV[8]))
end
redis.call('HSET', key, unpack(ARGV, 11))
if sub ~= '' then redis.call('ZADD', ukey(id, sub), ARGV[10], id) end
expireAt(key, xkey, id, sub ~= '' and sub, ex, now)
return {'created'}
`;

/**
 * Removes a session. KEYS: session, its expiry index. ARGV: prefix, id, now|'' (unconditional),
 * version|'', supersededUntil|''. With `now` (and `version`) given, removes only a live session
 * (at that version): the second step of a cross-slot replace, which (with `supersededUntil`) also
 * remembers the removed session's hashes as CREATE does; a revocation remembers nothing.
 * Returns {subject|nil} or nil when nothing was removed.
 */
export const DELETE = (prelude: string): string => `${prelude}
local key, xkey, id = KEYS[1], KEYS[2], ARGV[2]
local r = redis.call('HMGET', key, 'ls', 'it', 'ax', 'v', 'sub', 'sh', 'ph', 'pe')
if not r[1] then
  xrem(xkey, id)
  return false
end
if ARGV[3] ~= '' then
  if tonumber(ARGV[3]) >= expiry(r) then return false end
  if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= tonumber(r[4]) then return false end
end
redis.call('DEL', key)
xrem(xkey, id)
if r[5] then redis.call('ZREM', ukey(id, r[5]), id) end
if ARGV[5] ~= '' then supersede(id, r[6], r[7], r[8], tonumber(ARGV[3]), tonumber(ARGV[5])) end
return {r[5]}
`;

/**
 * isSuperseded. KEYS: the session's 'r:' key, the session (same slot). ARGV: prefix, now,
 * secretHash. 1 when a login or rotation replaced the session and remembered this hash until
 * after `now`, or when the live session holds it as its previous secret (a renewal replaced it,
 * whether or not the grace period is over); else 0. Hashes are compared as digests, as LOAD does.
 */
export const SUPERSEDED = (prelude: string): string => `${prelude}
local now, want = tonumber(ARGV[2]), redis.sha1hex(ARGV[3])
local r = redis.call('GET', KEYS[1])
if r then
  local untilMs, hashes = string.match(r, '^(%S+) (.*)$')
  if untilMs and now < tonumber(untilMs) then
    for h in string.gmatch(hashes, '%S+') do
      if redis.sha1hex(h) == want then return 1 end
    end
  end
end
local m = redis.call('HMGET', KEYS[2], 'ls', 'it', 'ax', 'ph')
if m[1] and now < expiry(m) and m[4] and m[4] ~= '' and redis.sha1hex(m[4]) == want then return 1 end
return 0
`;

/**
 * Scripts over a subject's indexes. KEYS: pairs of a subject index and its shard's expiry index
 * (same slot), in the order their sessions are listed: the index of the sessions 0.1 issued under
 * the subject's unkeyed partition first when the caller passes it (see "Partition key" in
 * index.ts; its entries are older than any keyed one), then the keyed one. ARGV[2] is the subject.
 * Each walks at most about `limit` entries, plus the entries it meets that name no live session,
 * which it drops (see `drop` in the prelude), so that no later walk meets them again.
 */

/**
 * A page of a subject's sessions, oldest first (by index score, which is createdAt, then by id).
 * ARGV: prefix, subject, now, first pair (1-based), cursor score|'', cursor id, want.
 * Starts in the given pair after (cursor score, cursor id), and goes on through the following
 * pairs until it has `want` live sessions. Returns {pair, score, id, flat hash, ...}.
 */
export const LIST = (prelude: string): string => `${prelude}
local sub, now, first, cs, cid, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
local out, found = {}, 0
for k = first, #KEYS / 2 do
  if found >= want then break end
  local u, xkey = KEYS[2 * k - 1], KEYS[2 * k]
  local pos = 0
  if k == first and cs ~= '' then pos = after(u, cs, cid) end
  while found < want do
    local chunk = redis.call('ZRANGE', u, pos, pos + want - found - 1, 'WITHSCORES')
    if #chunk == 0 then break end
    local dropped = 0
    for j = 1, #chunk, 2 do
      local id = chunk[j]
      -- One HGETALL serves both the check and the answer.
      local h = redis.call('HGETALL', skey(id))
      local st = 'gone'
      if #h > 0 then
        local f = {}
        for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
        st = (f.sub == sub and now < expiresAt(tonumber(f.ls), tonumber(f.it), tonumber(f.ax))) and 'live' or 'dead'
      end
      if st == 'live' then
        found = found + 1
        out[#out + 1] = k
        out[#out + 1] = chunk[j + 1]
        out[#out + 1] = id
        out[#out + 1] = h
        if found >= want then break end
      else
        drop(u, xkey, id, st)
        dropped = dropped + 1
      end
    end
    pos = pos + #chunk / 2 - dropped
  end
end
return out
`;

/**
 * deleteBySubject: ends up to `limit` of the subject's live sessions, oldest first, never `except`.
 * ARGV: prefix, subject, now, except|'', limit. Returns the ids it removed.
 */
export const DROP = (prelude: string): string => `${prelude}
local sub, now, except, limit = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local out = {}
for k = 1, #KEYS / 2 do
  if #out >= limit then break end
  local u, xkey = KEYS[2 * k - 1], KEYS[2 * k]
  local pos = 0
  while #out < limit do
    local chunk = redis.call('ZRANGE', u, pos, pos + limit - #out)
    if #chunk == 0 then break end
    for _, id in ipairs(chunk) do
      if id == except then
        pos = pos + 1
      else
        local st = state(id, sub, now)
        if st == 'live' then
          redis.call('DEL', skey(id))
          redis.call('ZREM', u, id)
          xrem(xkey, id)
          out[#out + 1] = id
          if #out >= limit then break end
        else
          drop(u, xkey, id, st)
        end
      end
    end
  end
end
return out
`;

/** count({ subject }): the subject's live sessions, one bounded step per index (`live` in the prelude). ARGV: prefix, subject, now. */
export const COUNT_SUBJECT = (prelude: string): string => `${prelude}
local total = 0
for k = 1, #KEYS / 2 do total = total + live(KEYS[2 * k - 1], KEYS[2 * k], ARGV[2], tonumber(ARGV[3])) end
return total
`;

/**
 * trimSubject: ends the subject's oldest live sessions (never `keep`) while more than `max` are
 * live, at most `batch` of them. ARGV: prefix, subject, now, max, keep, batch. The live count is
 * `live` in the prelude; entries met that name no live session were counted there (a larger index
 * is counted, not walked) and are dropped from the excess as they are met. Returns removed ids.
 */
export const TRIM = (prelude: string): string => `${prelude}
local sub, now, max, keep, batch = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
-- Every login runs this: when the index holds no more entries than the limit, live or not, there
-- is nothing to trim and no session need be read.
local entries = 0
for k = 1, #KEYS / 2 do entries = entries + redis.call('ZCARD', KEYS[2 * k - 1]) end
if entries <= max then return {} end
local excess = -max
for k = 1, #KEYS / 2 do excess = excess + live(KEYS[2 * k - 1], KEYS[2 * k], sub, now) end
local out = {}
for k = 1, #KEYS / 2 do
  local u, xkey = KEYS[2 * k - 1], KEYS[2 * k]
  local pos = 0
  while #out < math.min(excess, batch) do
    local chunk = redis.call('ZRANGE', u, pos, pos + math.min(excess, batch) - #out)
    if #chunk == 0 then break end
    for _, id in ipairs(chunk) do
      if #out >= math.min(excess, batch) then break end
      if id == keep then
        pos = pos + 1
      else
        local st = state(id, sub, now)
        if st == 'live' then
          redis.call('DEL', skey(id))
          redis.call('ZREM', u, id)
          xrem(xkey, id)
          out[#out + 1] = id
        else
          drop(u, xkey, id, st)
          excess = excess - 1
        end
      end
    end
  end
end
return out
`;

/** Entries of a subject index one SCAN_SUBJECT step walks. */
export const SCAN_BUDGET = 500;

/**
 * query({ subject }), one bounded step of it: walks at most `budget` entries of one subject index
 * after (from score, from id) and returns the live ones with an id past `cursor` (and a display
 * name starting with the prefix, when one is given). The caller keeps the smallest ids and goes on
 * from where this step stopped. ARGV: prefix, subject, now, from score|'', from id, budget,
 * cursor|'', has prefix ('0'|'1'), display-name prefix. Returns {last score|'', last id|'', id, ...}
 * (an empty last score: the index is done).
 */
export const SCAN_SUBJECT = (prelude: string): string => `${prelude}
local u, xkey = KEYS[1], KEYS[2]
local sub, now, fs, fid, budget, cursor, hasPrefix, dnp = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1', ARGV[9]
local pos = 0
if fs ~= '' then pos = after(u, fs, fid) end
local chunk = redis.call('ZRANGE', u, pos, pos + budget - 1, 'WITHSCORES')
local out = {'', ''}
if #chunk / 2 == budget then
  out[1] = chunk[#chunk]
  out[2] = chunk[#chunk - 1]
end
for j = 1, #chunk, 2 do
  local id = chunk[j]
  local r = redis.call('HMGET', skey(id), 'ls', 'it', 'ax', 'sub', 'dn')
  if not r[1] then
    drop(u, xkey, id, 'gone')
  elseif now >= expiry(r) or r[4] ~= sub then
    drop(u, xkey, id, 'dead')
  elseif lt(cursor, id) and (not hasPrefix or (r[5] and string.sub(r[5], 1, #dnp) == dnp)) then
    out[#out + 1] = id
  end
end
return out
`;

/**
 * Admin scripts over expiry indexes: no declared keys, ARGV: prefix, now, then arguments, then
 * the index keys to walk. On a cluster each runs on one master over the indexes of the slots it
 * serves (with the `allow-cross-slot-keys` flag); on one node it runs once over all of them.
 */

/**
 * count. ARGV: prefix, now, index keys... Returns live entries as a string: all entries (`n`, or
 * on a cluster, or when `n` is missing, the sum of ZCARDs) less those past their expiry, which
 * stay until the sweep takes them. ZCOUNT up to `now` passes over only those expired entries at
 * the low end, never the live ones; so a count is one call per shard on a single node, two on a
 * cluster.
 */
export const COUNT_ALL = (prelude: string): string => `${prelude}
local now = ARGV[2]
local total = N and tonumber(redis.call('GET', N))
if not total then
  total = entries(3)
  if N then redis.call('SET', N, total) end
end
for i = 3, #ARGV do total = total - redis.call('ZCOUNT', ARGV[i], '-inf', now) end
return tostring(total)
`;

/**
 * Sessions one SWEEP script removes at most: a `deleteExpired` batch (the core's
 * cleanupBatchSize, 500 by default) is several scripts of this size, each about a millisecond of
 * server time, so that requests queued behind a sweep wait for one short step, not a batch.
 */
export const SWEEP_STEP = 100;

/**
 * deleteExpired, one step of it. ARGV: prefix, now, limit, whole ('1' when the index keys that
 * follow are all of them), index keys... Returns {index keys it went through, id, subject|'',
 * has subject ('1'|'0'), ...} of the sessions it removed; a session whose hash is already gone
 * (Redis dropped it, past `expiredRetention`) has no subject to report. It stops at an index that
 * may hold more, so the caller goes on from there.
 * A step over all the indexes that got to the end under its limit also sets `n` to their total,
 * so that a counter gone wrong (flushed, a process that predates it) is right again by the next
 * sweep.
 */
export const SWEEP = (prelude: string): string => `${prelude}
local now, limit, whole = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local out, n, at = {0}, 0, 5
while at <= #ARGV and n < limit do
  local xkey = ARGV[at]
  local asked = limit - n
  local ids = redis.call('ZRANGEBYSCORE', xkey, '-inf', now, 'LIMIT', 0, asked)
  for _, id in ipairs(ids) do
    local key = skey(id)
    local r = redis.call('HMGET', key, 'ls', 'it', 'ax', 'sub')
    local ex = expiry(r)
    if ex and ex > now then
      xadd(xkey, ex, id)
    else
      xrem(xkey, id)
      if ex then redis.call('DEL', key) end
      if r[4] then redis.call('ZREM', ukey(id, r[4]), id) end
      n = n + 1
      out[#out + 1] = id
      out[#out + 1] = r[4] or ''
      out[#out + 1] = r[4] and '1' or '0'
    end
  end
  -- Fewer than asked: this index holds no more expired entries.
  if #ids < asked then at = at + 1 end
end
if N and whole and n < limit then redis.call('SET', N, entries(5)) end
out[1] = at - 5
return out
`;

/**
 * How many shards' expiry indexes each `deleteExpired` call checks for sessions deleted by hand:
 * a sixty-fourth of them, so one instance's calls walk all 1,024 in 64 calls. Measured at 100,000
 * sessions (about 1,600 entries a call): some 2 ms of server time, in a script of its own so that
 * the sweep's (some 3.5 ms) does not grow by as much.
 */
export const HEAL_SHARDS = 16;

/**
 * Heals expiry indexes. ARGV: prefix, now, index keys... Every live entry (score > now) whose hash
 * no longer exists leaves its index (and `n`), unreported: its hash was deleted by hand, so nobody
 * knows whose it was (its subject index drops it when next read). Expired entries are the sweep's,
 * which reports them. Returns how many entries it removed.
 */
export const HEAL = (prelude: string): string => `${prelude}
local healed = 0
for i = 3, #ARGV do
  local xkey = ARGV[i]
  local ids = redis.call('ZRANGEBYSCORE', xkey, '(' .. ARGV[2], '+inf')
  -- One EXISTS over a chunk of keys says how many are there; only a chunk that lacks some is
  -- checked key by key.
  for from = 1, #ids, 500 do
    local to = math.min(from + 499, #ids)
    local keys = {}
    for j = from, to do keys[#keys + 1] = skey(ids[j]) end
    if redis.call('EXISTS', unpack(keys)) < #keys then
      for j = from, to do
        if redis.call('EXISTS', keys[j - from + 1]) == 0 then
          xrem(xkey, ids[j])
          healed = healed + 1
        end
      end
    end
  end
end
return healed
`;

/**
 * query (no subject or id filter): live ids greater than the cursor, optionally with a display
 * name starting with a prefix, in id order with their hashes, at most `limit` of them.
 * ARGV: prefix, now, cursor|'', hasPrefix ('0'|'1'), displayNamePrefix, limit, index keys...
 * The index keys come in the byte order of their shards, which are the ids' first two characters,
 * so walking them in turn (each shard's ids sorted) meets the ids in ascending order, and the
 * walk stops at the shard that fills the page. It also stops, between shards, once it has looked
 * at `QUERY_BUDGET` ids, so that a sparse display-name search never holds the server for long;
 * the caller goes on with the remaining keys. Returns {index keys consumed, id, hash, ...}.
 */
export const QUERY_BUDGET = 2000;
export const QUERY = (prelude: string): string => `${prelude}
local now, cursor, hasPrefix, dnp, limit = ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5], tonumber(ARGV[6])
local from = string.sub(cursor, 1, 2)
local at = #P + 4 -- where the shard starts in P .. 'x:{' .. shard .. '}'
local out, found, seen, consumed = {0}, 0, 0, 0 -- out[1]: the index keys consumed
for i = 7, #ARGV do
  if found >= limit or seen >= ${QUERY_BUDGET} then break end
  consumed = consumed + 1
  -- A shard below the cursor's holds only ids below the cursor.
  if cursor == '' or not lt(string.sub(ARGV[i], at, at + 1), from) then
    local ids = redis.call('ZRANGEBYSCORE', ARGV[i], '(' .. now, '+inf')
    seen = seen + #ids
    -- Filtered first, so that only the matches are sorted.
    local picked = {}
    for _, id in ipairs(ids) do
      if lt(cursor, id) then
        local dn = hasPrefix and redis.call('HGET', skey(id), 'dn')
        if not hasPrefix or (dn and string.sub(dn, 1, #dnp) == dnp) then picked[#picked + 1] = id end
      end
    end
    table.sort(picked, lt)
    for _, id in ipairs(picked) do
      if found >= limit then break end
      local h = redis.call('HGETALL', skey(id))
      if #h > 0 then
        found = found + 1
        out[#out + 1] = id
        out[#out + 1] = h
      end
    end
  end
end
out[1] = consumed
return out
`;

export type ScriptFlag = 'allow-oom' | 'no-writes' | 'allow-cross-slot-keys';

/**
 * Each script's flags. Scripts that only remove entries, rewrite fields in place (a touch) or read
 * run when Redis is out of memory (`allow-oom`), so that users can still be served, logged out and
 * swept; create and apply are refused then, before any write, and the store reports
 * `StoreUnavailableError`. QUERY only reads.
 */
export const SCRIPT_FLAGS = {
  load: ['allow-oom'],
  apply: [],
  increment: [],
  create: [],
  delete: ['allow-oom'],
  superseded: ['no-writes'],
  list: ['allow-oom'],
  drop: ['allow-oom'],
  countSubject: ['allow-oom'],
  trim: ['allow-oom'],
  scanSubject: ['allow-oom'],
  count: ['allow-oom'],
  sweep: ['allow-oom'],
  heal: ['allow-oom'],
  query: ['no-writes'],
} as const satisfies Record<string, readonly ScriptFlag[]>;

/** A script's text: its shebang with flags, then its body. */
export function withShebang(body: string, flags: readonly ScriptFlag[]): string {
  return `#!lua${flags.length > 0 ? ` flags=${flags.join(',')}` : ''}\n${body}`;
}
