/** A session's read, with the touch that keeps it alive when one is due. */

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
