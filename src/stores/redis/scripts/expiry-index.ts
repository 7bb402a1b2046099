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
 * query (no subject or id filter): live ids greater than the cursor, optionally with a display
 * name starting with a prefix, in id order with their hashes, at most `limit` of them.
 * ARGV: prefix, now, cursor|'', hasPrefix ('0'|'1'), displayNamePrefix, limit, index keys...
 * The index keys come in the byte order of their shards, which are the ids' first two characters,
 * so walking them in turn (each shard's ids sorted) meets the ids in ascending order, and the
 * walk stops at the shard that fills the page. It also stops, between shards, once it has looked
 * at `QUERY_BUDGET` ids, so that a sparse display-name search never holds the server for long;
 * the caller goes on with the remaining keys. Returns {index keys consumed, id, hash, ...}.
 *
 * With a display-name prefix, a shard whose display-name index is complete (its mark '' is there:
 * see `nkey` in the prelude) is searched there instead: one ZRANGEBYLEX for the names from the
 * prefix up to the prefix followed by byte 255 (which no UTF-8 text holds), then, in id order, only
 * the entries past the cursor, each checked live in the expiry index and still under that name (an
 * entry can outlive its session until HEAL): about two commands a shard and three a session
 * answered. A shard written before the index existed is walked as without a prefix, the display
 * name of each of its sessions read, until HEAL has indexed it.
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
  local nk = P .. 'd:{' .. string.sub(ARGV[i], at, at + 1) .. '}'
  if cursor ~= '' and lt(string.sub(ARGV[i], at, at + 1), from) then
    -- Nothing past the cursor here.
  elseif hasPrefix and redis.call('ZSCORE', nk, '') then
    local members = redis.call('ZRANGEBYLEX', nk, '[' .. dnp, '(' .. dnp .. '\\255')
    seen = seen + #members
    local picked, names = {}, {}
    for _, m in ipairs(members) do
      local id = string.match(m, '%z([^%z]*)$')
      if id and lt(cursor, id) then
        picked[#picked + 1] = id
        names[id] = string.sub(m, 1, #m - #id - 1)
      end
    end
    table.sort(picked, lt)
    for _, id in ipairs(picked) do
      if found >= limit then break end
      local ex = redis.call('ZSCORE', ARGV[i], id)
      if ex and tonumber(ex) > tonumber(now) and redis.call('HGET', skey(id), 'dn') == names[id] then
        found = found + 1
        out[#out + 1] = id
        out[#out + 1] = redis.call('HGETALL', skey(id))
      end
    end
  else
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
