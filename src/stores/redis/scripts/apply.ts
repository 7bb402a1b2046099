/** A change set applied to a session: the general APPLY, and INCREMENT for the commonest one. */
import { ADD, EXPIRES_AT, IDEMPOTENCY } from './fragments.js';

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
if ARGV[8] ~= '' then
  unnamed(id, redis.call('HGET', key, 'dn'))
  if ARGV[8] == 'n' then redis.call('HDEL', key, 'dn') else redis.call('HSET', key, 'dn', ARGV[9]) named(id, ARGV[9]) end
end
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
