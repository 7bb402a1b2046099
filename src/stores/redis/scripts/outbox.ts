/**
 * The outbox's own scripts (the ending scripts record notices through `ended` in the prelude).
 * NOTICE_ADD and NOTICE_REMOVE are keyed: one shard's 'o', 'b' and 'a' keys. The others are admin
 * scripts, called as those in expiry-index.ts are: ARGV ends with the expiry index keys of the
 * node's shards, from which each derives the shard's outbox keys.
 */

/**
 * Lua shared by the admin scripts: `shards(first)` lists the shards of the index keys in ARGV from
 * position `first` on, leaving out those whose outbox is empty. On a single node one EXISTS over a
 * chunk of 'o' keys says whether any is there, so an empty outbox costs a few commands, not one per
 * shard; on a cluster a command's keys must share a slot, so each shard's is asked alone.
 */
const HELD = (cluster: boolean): string => `
local function shards(first)
  local at, held, size = #P + 4, {}, ${cluster ? 1 : 256}
  for from = first, #ARGV, size do
    local chunk, keys = {}, {}
    for i = from, math.min(from + size - 1, #ARGV) do
      local sh = string.sub(ARGV[i], at, at + 1)
      chunk[#chunk + 1] = sh
      keys[#keys + 1] = okey(sh)
    end
    if redis.call('EXISTS', unpack(keys)) > 0 then
      if size == 1 then
        held[#held + 1] = chunk[1]
      else
        for _, sh in ipairs(chunk) do
          if redis.call('EXISTS', okey(sh)) == 1 then held[#held + 1] = sh end
        end
      end
    end
  end
  return held
end
-- The first 'limit' entries over the shards' sorted sets named by 'key' (at most 'limit' each,
-- read by 'range'), by score then id: {score, id, shard}.
local function earliest(key, range, limit, first)
  local found = {}
  for _, sh in ipairs(shards(first)) do
    local got = range(key(sh))
    for j = 1, #got, 2 do found[#found + 1] = {tonumber(got[j + 1]), got[j], sh} end
  end
  table.sort(found, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return lt(x[2], y[2])
  end)
  for k = #found, limit + 1, -1 do found[k] = nil end
  return found
end
`;

/**
 * claimNotices on one node (`claim`), or its look ahead on a cluster (not `claim`): the `limit`
 * notices due at `now`, earliest first. ARGV: prefix, now, limit, leaseUntil, index keys...
 * Claiming moves each to `leaseUntil` and adds one to its attempts; returns {due, body, ...}. Looking
 * returns their due times, so that the caller shares the limit among the nodes by due time.
 */
export const NOTICE_CLAIM = (prelude: string, cluster: boolean, claim: boolean): string => `${prelude}${HELD(cluster)}
local now, limit, lease = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local due = earliest(okey, function(k) return redis.call('ZRANGEBYSCORE', k, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit) end, limit, 5)
local out = {}
for _, c in ipairs(due) do
  ${
    claim
      ? `local b = redis.call('HGET', bkey(c[3]), c[2])
  if b then
    local body = cjson.decode(b)
    body.n = body.n + 1
    b = cjson.encode(body)
    redis.call('HSET', bkey(c[3]), c[2], b)
    redis.call('ZADD', okey(c[3]), lease, c[2])
    out[#out + 1] = num(c[1])
    out[#out + 1] = b
  else
    -- A body lost (deleted by hand): the notice cannot be delivered.
    redis.call('ZREM', okey(c[3]), c[2])
    redis.call('ZREM', akey(c[3]), c[2])
  end`
      : 'out[#out + 1] = num(c[1])'
  }
end
return out
`;

/** countNotices on one node: ARGV: prefix, index keys... Returns the notices its shards hold. */
export const NOTICE_COUNT = (prelude: string, cluster: boolean): string => `${prelude}${HELD(cluster)}
local total = 0
for _, sh in ipairs(shards(2)) do total = total + redis.call('ZCARD', okey(sh)) end
return total
`;

/**
 * trimNotices on one node, its look ahead: the `want` oldest notices by `at`. ARGV: prefix, want,
 * index keys... Returns {id, at, ...}; the caller removes the oldest over all nodes (NOTICE_REMOVE).
 */
export const NOTICE_OLDEST = (prelude: string, cluster: boolean): string => `${prelude}${HELD(cluster)}
local want = tonumber(ARGV[2])
local out = {}
for _, c in ipairs(earliest(akey, function(k) return redis.call('ZRANGE', k, 0, want - 1, 'WITHSCORES') end, want, 3)) do
  out[#out + 1] = c[2]
  out[#out + 1] = num(c[1])
end
return out
`;

/**
 * addNotices in one shard. KEYS: its 'o', 'b', 'a'. ARGV: prefix, then (id, due, at, body) for
 * each notice; one whose id is held is left as it is.
 */
export const NOTICE_ADD = (prelude: string): string => `${prelude}
for i = 2, #ARGV, 4 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 3]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    redis.call('ZADD', KEYS[3], ARGV[i + 2], ARGV[i])
  end
end
return 0
`;

/** removeNotices in one shard. KEYS: its 'o', 'b', 'a'. ARGV: prefix, ids... Returns how many it removed. */
export const NOTICE_REMOVE = (prelude: string): string => `${prelude}
local removed = 0
for i = 2, #ARGV do
  if redis.call('HDEL', KEYS[2], ARGV[i]) == 1 then removed = removed + 1 end
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
end
return removed
`;
