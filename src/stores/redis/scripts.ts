/**
 * The Lua side of the Redis store. Each script is one atomic step and one round trip; together
 * they implement `core/expiry.ts` and `core/record-ops.ts` (touch rule, expiry formula, change-set
 * order, eviction order) exactly. Numbers are written back with `%.17g`, so that millisecond
 * timestamps never turn into `1.8e+12`.
 *
 * The store sends each with a Redis 7 shebang that declares its flags (see `SCRIPT_FLAGS`).
 * Without one, Redis checks `maxmemory` only at a script's first write, and a script whose first
 * write removes nothing (CREATE's trim of the subject index) was let through however full Redis
 * was; with one, a script that may grow memory is refused before it starts.
 *
 * Keys a script derives itself (`u:` of a subject, `s:` of an evicted id) always carry the same
 * `{shard}` hash tag as a declared key, so they live in the declared key's slot on a cluster.
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
-- The subject index lives as long as its longest-lived entry.
local function ukeep(u, now)
  local top = redis.call('ZRANGE', u, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIRE', u, math.max(1, math.ceil(tonumber(top[2]) - now)))
  end
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
-- A session's expiry moved (or it is new): its TTL and its entries in both indexes follow.
local function expireAt(key, xkey, id, sub, ex, now)
  keep(key, ex, now)
  xadd(xkey, ex, id)
  if sub then
    local u = ukey(id, sub)
    redis.call('ZADD', u, ex, id)
    ukeep(u, now)
  end
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
 * apply. KEYS: session, its expiry index. ARGV: prefix, id, now, expectedVersion|'', idleTimeout|'',
 * lastSeenAt|'', lastDevice|'', displayName mode ('' keep, 'n' null, 's' set), displayName,
 * renewal ('' or '1', then secretHash, renewedAt, previousSecretHash, previousSecretExpiresAt),
 * baseVersion|'', then counted lists: deletes, sets (field, JSON), increments (field, delta).
 * Returns {'ok'} when the hash was at baseVersion before this change (the caller derives the
 * result from its base record), else {'ok', flat hash}; {'conflict', flat hash}; or nil (gone).
 */
export const APPLY = (prelude: string): string => `${prelude}
local key, xkey, id, now = KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[3])
local cur = redis.call('HMGET', key, 'v', 'ls', 'it', 'ax', 'sub')
if not cur[1] then return false end
local v, ls, it, ax = tonumber(cur[1]), tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4])
local before = expiresAt(ls, it, ax)
if now >= before then return false end
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
if ARGV[15] ~= '' and tonumber(ARGV[15]) == v then return {'ok'} end
return {'ok', redis.call('HGETALL', key)}
`;

/**
 * apply, for the commonest change set: integer increments and nothing else (no sets, deletes,
 * timeout, device, name or renewal), which leaves the expiry where it is. The general APPLY does
 * the same for these, with a dozen more Lua steps. KEYS: session. ARGV: prefix (unused), now,
 * baseVersion|'', then (field, delta) pairs, fields already with their 'd:'. Returns what APPLY
 * returns.
 */
export const INCREMENT = `${ADD}${EXPIRES_AT}
local key, now = KEYS[1], tonumber(ARGV[2])
local cur = redis.call('HMGET', key, 'v', 'ls', 'it', 'ax')
if not cur[1] or now >= expiresAt(tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4])) then return false end
for i = 4, #ARGV, 2 do add(key, ARGV[i], tonumber(ARGV[i + 1])) end
local v = redis.call('HINCRBY', key, 'v', 1)
if ARGV[3] ~= '' and tonumber(ARGV[3]) == v - 1 then return {'ok'} end
return {'ok', redis.call('HGETALL', key)}
`;

/**
 * create. KEYS: new session, its expiry index, then (same slot only) the replaced session and
 * its expiry index (another shard's, when the replaced session was anonymous).
 * ARGV: prefix, id, now, expiresAt, subject|'', replacesId|'', replacesVersion, supersededUntil,
 * limitMax|'', onLimit, then field/value pairs of the new hash. The replaced session's hashes are
 * remembered in its 'r:' key (same slot) until supersededUntil.
 * Returns {'created', evicted ids...}, {'limit'} or {'gone'}; an error on a duplicate id.
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
local evicted = {}
if sub ~= '' then
  local u = ukey(id, sub)
  redis.call('ZREMRANGEBYSCORE', u, '-inf', now)
  if ARGV[9] ~= '' then
    local max = tonumber(ARGV[9])
    local live = {}
    for _, other in ipairs(redis.call('ZRANGE', u, 0, -1)) do
      if other ~= rid then
        local r = redis.call('HMGET', skey(other), 'ls', 'it', 'ax', 'ca')
        if r[1] and expiry(r) > now then
          live[#live + 1] = {tonumber(r[4]), other}
        else
          redis.call('ZREM', u, other)
        end
      end
    end
    local excess = #live - max + 1
    if excess > 0 then
      if ARGV[10] == 'reject' then return {'limit'} end
      -- Oldest createdAt first, ties by id: sessionsToEvict in record-ops.ts.
      table.sort(live, function(a, b)
        if a[1] ~= b[1] then return a[1] < b[1] end
        return lt(a[2], b[2])
      end)
      for k = 1, excess do
        local victim = live[k][2]
        redis.call('DEL', skey(victim))
        redis.call('ZREM', u, victim)
        xrem(xkey, victim)
        evicted[#evicted + 1] = victim
      end
    end
  end
end
if rid ~= '' then
  redis.call('DEL', KEYS[3])
  xrem(KEYS[4], rid)
  if rsub then redis.call('ZREM', ukey(rid, rsub), rid) end
  supersede(rid, replaced[6], replaced[7], replaced[8], now, tonumber(ARGV[8]))
end
redis.call('HSET', key, unpack(ARGV, 11))
expireAt(key, xkey, id, sub ~= '' and sub, ex, now)
return {'created', unpack(evicted)}
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
 * A subject's sessions. KEYS: pairs of a subject index and its shard's expiry index (same slot):
 * the subject's, and on a single node also the one of the sessions 0.1 issued under its unkeyed
 * partition. ARGV: prefix, subject, now, mode ('list' | 'count' | 'delete'), except|''. Trims
 * entries past their expiry first; then every mode checks that each entry's hash still exists
 * (count with EXISTS, so O(sessions of the subject), not a ZCARD) and drops the entries of those
 * deleted by hand from both indexes. list: {id, flat hash, ...}; count: n; delete: removed ids.
 */
export const SUBJECT = (prelude: string): string => `${prelude}
local sub, now, mode, except = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local out, total = {}, 0
for k = 1, #KEYS, 2 do
  local u, xkey = KEYS[k], KEYS[k + 1]
  redis.call('ZREMRANGEBYSCORE', u, '-inf', now)
  for _, id in ipairs(redis.call('ZRANGE', u, 0, -1)) do
    local key = skey(id)
    -- A hash gone before its expiry was deleted by hand: its entries leave both indexes (and 'n').
    local function vanished()
      redis.call('ZREM', u, id)
      xrem(xkey, id)
    end
    if mode == 'count' then
      if redis.call('EXISTS', key) == 1 then total = total + 1 else vanished() end
    elseif mode == 'delete' then
      if id ~= except then
        local ex = expiry(redis.call('HMGET', key, 'ls', 'it', 'ax'))
        if ex and ex > now then
          redis.call('DEL', key)
          redis.call('ZREM', u, id)
          xrem(xkey, id)
          out[#out + 1] = id
        elseif not ex then
          vanished()
        end
      end
    else
      local h = redis.call('HGETALL', key)
      if #h == 0 then
        vanished()
      else
        out[#out + 1] = id
        out[#out + 1] = h
      end
    end
  end
end
if mode == 'count' then return total end
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
 * deleteExpired. ARGV: prefix, now, limit, index keys... Returns {id, subject|'', has subject
 * ('1'|'0'), ...} of the sessions it removed; a session whose hash is already gone (Redis dropped
 * it, past `expiredRetention`) has no subject to report.
 * A pass that got through every index (under its limit) also sets `n` to their total, so that a
 * counter gone wrong (flushed, a process that predates it) is right again by the next sweep.
 */
export const SWEEP = (prelude: string): string => `${prelude}
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local out, n = {}, 0
for i = 4, #ARGV do
  if n >= limit then break end
  local xkey = ARGV[i]
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', xkey, '-inf', now, 'LIMIT', 0, limit - n)) do
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
end
if N and n < limit then redis.call('SET', N, entries(4)) end
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
  subject: ['allow-oom'],
  count: ['allow-oom'],
  sweep: ['allow-oom'],
  heal: ['allow-oom'],
  query: ['no-writes'],
} as const satisfies Record<string, readonly ScriptFlag[]>;

/** A script's text: its shebang with flags, then its body. */
export function withShebang(body: string, flags: readonly ScriptFlag[]): string {
  return `#!lua${flags.length > 0 ? ` flags=${flags.join(',')}` : ''}\n${body}`;
}
