/**
 * The core's sweep (`deleteExpired`): SWEEP removes expired sessions, HEAL the index entries of
 * sessions deleted by hand. Admin scripts, called as those in expiry-index.ts are.
 */

/**
 * Sessions one SWEEP script removes at most: a `deleteExpired` batch (the core's
 * cleanupBatchSize, 500 by default) is several scripts of this size, each about a millisecond of
 * server time, so that requests queued behind a sweep wait for one short step, not a batch.
 */
export const SWEEP_STEP = 100;

/**
 * deleteExpired, one step of it. ARGV: prefix, now, limit, whole ('1' when the index keys that
 * follow are all of them), notice ('1': record each removed session's `session.ended` notice,
 * reason `expired`, at its expiresAt, due `now`), index keys... Returns {index keys it went through, id, subject|'',
 * has subject ('1'|'0'), ...} of the sessions it removed; the subject of a session whose hash is
 * already gone (Redis dropped it, past `expiredRetention`) comes from its shard's 'w' hash. It stops at an index that
 * may hold more, so the caller goes on from there.
 * A step over all the indexes that got to the end under its limit also sets `n` to their total,
 * so that a counter gone wrong (flushed, a process that predates it) is right again by the next
 * sweep.
 */
export const SWEEP = (prelude: string): string => `${prelude}
local now, limit, whole, notice = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1', ARGV[5] == '1'
local out, n, at = {0}, 0, 6
while at <= #ARGV and n < limit do
  local xkey = ARGV[at]
  local asked = limit - n
  local got = redis.call('ZRANGEBYSCORE', xkey, '-inf', now, 'WITHSCORES', 'LIMIT', 0, asked)
  for g = 1, #got, 2 do
    local id = got[g]
    local key = skey(id)
    local r = redis.call('HMGET', key, 'ls', 'it', 'ax', 'sub', 'dn')
    local ex = expiry(r)
    if ex and ex > now then
      xadd(xkey, ex, id)
    else
      -- A hash Redis already dropped: its subject is still in 'w' (see 'wkey').
      local sub = r[4] or (not ex and redis.call('HGET', wkey(id), id))
      xrem(xkey, id)
      if ex then redis.call('DEL', key) end
      unnamed(id, r[5])
      if sub then redis.call('ZREM', ukey(id, sub), id) end
      -- The entry's score is the expiry it was indexed with: the expiresAt of a hash already gone.
      if notice then ended(id, sub, 'expired', ex or tonumber(got[g + 1]), now) end
      n = n + 1
      out[#out + 1] = id
      out[#out + 1] = sub or ''
      out[#out + 1] = sub and '1' or '0'
    end
  end
  -- Fewer than asked: this index holds no more expired entries.
  if #got / 2 < asked then at = at + 1 end
end
if N and whole and n < limit then redis.call('SET', N, entries(6)) end
out[1] = at - 6
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
 * which reports them. It also keeps each shard's display-name index (see QUERY): a shard whose
 * index is not marked complete (written before the index existed) gets every live session's
 * name and the mark, so that a search stops walking it; in a complete one, entries whose session
 * left the expiry index without the name being known (its hash was gone) are removed.
 * Returns how many expiry-index entries it removed.
 */
export const HEAL = (prelude: string): string => `${prelude}
local healed = 0
local at = #P + 4 -- where the shard starts in P .. 'x:{' .. shard .. '}'
for i = 3, #ARGV do
  local xkey = ARGV[i]
  local ids = redis.call('ZRANGEBYSCORE', xkey, '(' .. ARGV[2], '+inf')
  local nk = P .. 'd:{' .. string.sub(xkey, at, at + 1) .. '}'
  if not redis.call('ZSCORE', nk, '') then
    for _, id in ipairs(ids) do named(id, redis.call('HGET', skey(id), 'dn')) end
    redis.call('ZADD', nk, 0, '')
  else
    -- Rank 0 is the mark '', the least member.
    for _, m in ipairs(redis.call('ZRANGE', nk, 1, -1)) do
      local id = string.match(m, '%z([^%z]*)$')
      if id and not redis.call('ZSCORE', xkey, id) then redis.call('ZREM', nk, m) end
    end
  end
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
