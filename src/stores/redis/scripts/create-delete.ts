/**
 * A session's start and end: CREATE (a login replaces the session it came from in the same script
 * when both are in one slot), DELETE (a revocation, or the second step of a replace across slots),
 * and SUPERSEDED, which reads what a replace remembered of the session it removed.
 */

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
  replaced = redis.call('HMGET', KEYS[3], 'ls', 'it', 'ax', 'v', 'sub', 'sh', 'ph', 'pe', 'dn')
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
  unnamed(rid, replaced[9])
  xrem(KEYS[4], rid)
  if rsub then redis.call('ZREM', ukey(rid, rsub), rid) end
  supersede(rid, replaced[6], replaced[7], replaced[8], now, tonumber(ARGV[8]))
end
-- A shard with no session yet has a complete display-name index.
if redis.call('EXISTS', xkey) == 0 then redis.call('ZADD', nkey(id), 0, '') end
redis.call('HSET', key, unpack(ARGV, 11))
for i = 11, #ARGV - 1, 2 do
  if ARGV[i] == 'dn' then named(id, ARGV[i + 1]) end
end
if sub ~= '' then
  redis.call('ZADD', ukey(id, sub), ARGV[10], id)
  redis.call('HSET', wkey(id), id, sub)
end
expireAt(key, xkey, id, sub ~= '' and sub, ex, now)
return {'created'}
`;

/**
 * Removes a session. KEYS: session, its expiry index. ARGV: prefix, id, now|'' (unconditional),
 * version|'', supersededUntil|'', reason|'', at: with a reason, records the session's
 * `session.ended` notice (due at `at`). With `now` (and `version`) given, removes only a live session
 * (at that version): the second step of a cross-slot replace, which (with `supersededUntil`) also
 * remembers the removed session's hashes as CREATE does; a revocation remembers nothing.
 * Returns {subject|nil} or nil when nothing was removed.
 */
export const DELETE = (prelude: string): string => `${prelude}
local key, xkey, id = KEYS[1], KEYS[2], ARGV[2]
local r = redis.call('HMGET', key, 'ls', 'it', 'ax', 'v', 'sub', 'sh', 'ph', 'pe', 'dn')
if not r[1] then
  xrem(xkey, id)
  return false
end
if ARGV[3] ~= '' then
  if tonumber(ARGV[3]) >= expiry(r) then return false end
  if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= tonumber(r[4]) then return false end
end
redis.call('DEL', key)
unnamed(id, r[9])
xrem(xkey, id)
if r[5] then redis.call('ZREM', ukey(id, r[5]), id) end
if ARGV[5] ~= '' then supersede(id, r[6], r[7], r[8], tonumber(ARGV[3]), tonumber(ARGV[5])) end
if ARGV[6] and ARGV[6] ~= '' then ended(id, r[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[7])) end
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
