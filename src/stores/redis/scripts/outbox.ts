/**
 * The outbox's own scripts (the ending scripts record notices through `ended` in the prelude).
 * NOTICE_ADD and NOTICE_REMOVE are keyed: one shard's 'o', 'b' and 'a' keys. The others are admin
 * scripts, called as those in expiry-index.ts are, but given the node's shards as one argument
 * (their two characters each, one after the other: less to send and to parse than their keys).
 */

/** What a script on a single node answers when its set of shards holding notices (`oh`) is missing. */
export const HINT_MISSING = 'ERR tessera: outbox hint missing';

/**
 * Lua shared by the admin scripts. `shards(first)` lists the shards whose outbox holds notices. On
 * a single node it reads them from 'oh' (dropping shards found empty), and the caller sends no
 * shards; when 'oh' is missing or incomplete (new, flushed, deleted by hand: its member '' is
 * absent) it answers nil, and the caller sends the script again with the node's shards (ARGV[first],
 * their two characters each, one after the other), from which it lists those holding notices and
 * rebuilds 'oh'. On a cluster it always walks the node's shards, one EXISTS each (a command's keys
 * must share a slot); on a single node one EXISTS asks a chunk of shards at once.
 * 'oh' scores each shard by at most its earliest due time (see `held` in the prelude; '' by +inf),
 * so that a claim reads the shards in that order and stops at the first that cannot beat what it
 * has: `rehint` sets a shard's score to its earliest due time, or unlists a shard found empty.
 */
const HELD = (cluster: boolean): string => `
-- A shard listed in 'oh' whose outbox is gone (NOTICE_REMOVE unlists a shard it empties, so it was
-- deleted by hand): the count 'oc' is wrong too.
local function lost(sh)
  redis.call('ZREM', OH, sh)
  redis.call('DEL', OC)
end
local function rehint(sh)
  local top = redis.call('ZRANGE', okey(sh), 0, 0, 'WITHSCORES')
  if #top == 0 then lost(sh) else redis.call('ZADD', OH, top[2], sh) end
end
local function shards(first)
  if OH then
    local found = {}
    if redis.call('ZSCORE', OH, '') then
      for _, sh in ipairs(redis.call('ZRANGE', OH, 0, -1)) do
        if sh ~= '' then
          if redis.call('EXISTS', okey(sh)) == 1 then found[#found + 1] = sh else lost(sh) end
        end
      end
      return found
    end
    if not ARGV[first] then return nil end
  end
  local list, found, size = ARGV[first], {}, ${cluster ? 1 : 256}
  for from = 1, #list, 2 * size do
    local chunk, keys = {}, {}
    for i = from, math.min(from + 2 * size - 1, #list), 2 do
      local sh = string.sub(list, i, i + 1)
      chunk[#chunk + 1] = sh
      keys[#keys + 1] = okey(sh)
    end
    if redis.call('EXISTS', unpack(keys)) > 0 then
      if size == 1 then
        found[#found + 1] = chunk[1]
      else
        for _, sh in ipairs(chunk) do
          if redis.call('EXISTS', okey(sh)) == 1 then found[#found + 1] = sh end
        end
      end
    end
  end
  if OH then
    local total = 0
    for _, sh in ipairs(found) do
      rehint(sh)
      total = total + redis.call('ZCARD', okey(sh))
    end
    redis.call('ZADD', OH, '+inf', '')
    redis.call('SET', OC, total)
  end
  return found
end
local function order(x, y)
  if x[1] ~= y[1] then return x[1] < y[1] end
  return lt(x[2], y[2])
end
-- On a single node, the 'limit' entries due at 'now' (at most 'limit' each), in the order of 'oh':
-- a shard whose score is not below 'cut', the last of 'limit' found, cannot hold an earlier one.
-- Sorted only once twice the limit is found, so a large backlog costs a few sorts, not one a shard;
-- 'cut' is then a little late, which only makes the walk go on a little longer.
local function hinted(now, limit, first)
  if not redis.call('ZSCORE', OH, '') and not shards(first) then return nil end
  local found, cut = {}, nil
  local function trim()
    table.sort(found, order)
    for k = #found, limit + 1, -1 do found[k] = nil end
    if #found >= limit then cut = found[limit][1] end
  end
  local hs = redis.call('ZRANGEBYSCORE', OH, '-inf', now, 'WITHSCORES')
  for j = 1, #hs, 2 do
    if cut and tonumber(hs[j + 1]) >= cut then break end
    local sh = hs[j]
    local got = redis.call('ZRANGEBYSCORE', okey(sh), '-inf', cut and ('(' .. num(cut)) or now, 'WITHSCORES', 'LIMIT', 0, limit)
    if #got == 0 and not cut then rehint(sh) end
    for g = 1, #got, 2 do found[#found + 1] = {tonumber(got[g + 1]), got[g], sh} end
    if #found >= 2 * limit or (not cut and #found >= limit) then trim() end
  end
  trim()
  return found
end
-- The first 'limit' entries over the shards' sorted sets named by 'key' (at most 'limit' each,
-- read by 'range'), by score then id: {score, id, shard}.
local function earliest(key, range, limit, first)
  local list = shards(first)
  if not list then return nil end
  local found = {}
  for _, sh in ipairs(list) do
    local got = range(key(sh))
    for j = 1, #got, 2 do found[#found + 1] = {tonumber(got[j + 1]), got[j], sh} end
  end
  table.sort(found, order)
  for k = #found, limit + 1, -1 do found[k] = nil end
  return found
end
`;

/**
 * claimNotices on one node (`claim`), or its look ahead on a cluster (not `claim`): the `limit`
 * notices due at `now`, earliest first. ARGV: prefix, now, limit, leaseUntil, shards (see `shards`).
 * Claiming moves each to `leaseUntil` and adds one to its attempts; returns {due, body, ...}. Looking
 * returns their due times, so that the caller shares the limit among the nodes by due time.
 */
export const NOTICE_CLAIM = (prelude: string, cluster: boolean, claim: boolean): string => `${prelude}${HELD(cluster)}
local now, limit, lease = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local due
if OH then
  due = hinted(tonumber(now), limit, 5)
else
  due = earliest(okey, function(k) return redis.call('ZRANGEBYSCORE', k, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit) end, limit, 5)
end
if not due then return redis.error_reply('${HINT_MISSING}') end
local out, touched = {}, {}
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
    touched[c[3]] = true
    out[#out + 1] = num(c[1])
    out[#out + 1] = b
  else
    -- A body lost (deleted by hand): the notice cannot be delivered.
    redis.call('ZREM', okey(c[3]), c[2])
    redis.call('ZREM', akey(c[3]), c[2])
    if OH then redis.call('DEL', OC) end
    touched[c[3]] = true
  end`
      : 'out[#out + 1] = num(c[1])'
  }
end
if OH then
  for sh in pairs(touched) do rehint(sh) end
end
return out
`;

/** countNotices on one node: ARGV: prefix, shards (see `shards`). Returns the notices its shards hold. */
export const NOTICE_COUNT = (prelude: string, cluster: boolean): string => `${prelude}${HELD(cluster)}
if OH and redis.call('ZSCORE', OH, '') then
  local n = redis.call('GET', OC)
  if n then return tonumber(n) end
end
local list = shards(2)
if not list then return redis.error_reply('${HINT_MISSING}') end
local total = 0
for _, sh in ipairs(list) do total = total + redis.call('ZCARD', okey(sh)) end
if OH then redis.call('SET', OC, total) end
return total
`;

/**
 * trimNotices on one node, its look ahead: the `want` oldest notices by `at`. ARGV: prefix, want,
 * shards (see `shards`). Returns {id, at, ...}; the caller removes the oldest over all nodes (NOTICE_REMOVE).
 */
export const NOTICE_OLDEST = (prelude: string, cluster: boolean): string => `${prelude}${HELD(cluster)}
local want = tonumber(ARGV[2])
local oldest = earliest(akey, function(k) return redis.call('ZRANGE', k, 0, want - 1, 'WITHSCORES') end, want, 3)
if not oldest then return redis.error_reply('${HINT_MISSING}') end
local out = {}
for _, c in ipairs(oldest) do
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
    held(string.sub(KEYS[1], #P + 4, #P + 5), ARGV[i + 1])
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
if OH then
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', OH, string.sub(KEYS[1], #P + 4, #P + 5)) end
  noted(-removed)
end
return removed
`;

/**
 * deferNotice. KEYS: the notice's shard's 'o'. ARGV: prefix, id, dueAt. Moves a notice still held
 * (and lowers its shard's score in 'oh' to match); adds nothing.
 */
export const NOTICE_DEFER = (prelude: string): string => `${prelude}
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
if OH then redis.call('ZADD', OH, 'LT', ARGV[3], string.sub(KEYS[1], #P + 4, #P + 5)) end
return 1
`;
