/**
 * Scripts over a subject's indexes. KEYS: pairs of a subject index and its shard's expiry index
 * (same slot), in the order their sessions are listed: the index of the sessions 0.1 issued under
 * the subject's unkeyed partition first when the caller passes it (see "Partition key" in
 * docs/stores/redis.md; its entries are older than any keyed one), then the keyed one. ARGV[2] is the subject.
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
 * What DROP and TRIM share: ends the oldest live sessions of subject index 'u' (of expiry index
 * 'xkey'), never 'spare', appending their ids to 'out' while it holds fewer than 'target(met)';
 * 'met' counts the entries it met that name no live session, which it drops from the index (TRIM's
 * target shrinks by them, as they were counted as live). Returns that count. Removed entries leave
 * the index, so only a spared entry moves the window on. 'note', when given, records each removed
 * session's notice.
 */
const END_OLDEST = `
local function endOldest(u, xkey, sub, now, spare, out, target, note)
  local pos, met = 0, 0
  while #out < target(met) do
    local chunk = redis.call('ZRANGE', u, pos, pos + target(met) - #out)
    if #chunk == 0 then break end
    for _, id in ipairs(chunk) do
      if #out >= target(met) then break end
      if id == spare then
        pos = pos + 1
      else
        local st = state(id, sub, now)
        if st == 'live' then
          unnamed(id, redis.call('HGET', skey(id), 'dn'))
          redis.call('DEL', skey(id))
          redis.call('ZREM', u, id)
          xrem(xkey, id)
          if note then note(id) end
          out[#out + 1] = id
        else
          drop(u, xkey, id, st)
          met = met + 1
        end
      end
    end
  end
  return met
end
`;

/**
 * deleteBySubject: ends up to `limit` of the subject's live sessions, oldest first, never `except`.
 * ARGV: prefix, subject, now, except|'', limit, reason|'', at (with a reason, each removed
 * session's notice is recorded, due `now`). Returns the ids it removed.
 */
export const DROP = (prelude: string): string => `${prelude}${END_OLDEST}
local sub, now, except, limit = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local note = ARGV[6] ~= '' and function(id) ended(id, sub, ARGV[6], tonumber(ARGV[7]), now) end or nil
local out = {}
for k = 1, #KEYS / 2 do
  if #out >= limit then break end
  endOldest(KEYS[2 * k - 1], KEYS[2 * k], sub, now, except, out, function() return limit end, note)
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
 * live, at most `batch` of them. ARGV: prefix, subject, now, max, keep, batch, reason|'', at (as
 * DROP's). The live count is
 * `live` in the prelude; entries met that name no live session were counted there (a larger index
 * is counted, not walked) and are dropped from the excess as they are met. Returns removed ids.
 */
export const TRIM = (prelude: string): string => `${prelude}${END_OLDEST}
local sub, now, max, keep, batch = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local note = ARGV[7] ~= '' and function(id) ended(id, sub, ARGV[7], tonumber(ARGV[8]), now) end or nil
-- Every login runs this: when the index holds no more entries than the limit, live or not, there
-- is nothing to trim and no session need be read.
local entries = 0
for k = 1, #KEYS / 2 do entries = entries + redis.call('ZCARD', KEYS[2 * k - 1]) end
if entries <= max then return {} end
local excess = -max
for k = 1, #KEYS / 2 do excess = excess + live(KEYS[2 * k - 1], KEYS[2 * k], sub, now) end
local out = {}
for k = 1, #KEYS / 2 do
  if #out >= math.min(excess, batch) then break end
  local dead = endOldest(KEYS[2 * k - 1], KEYS[2 * k], sub, now, keep, out, function(met) return math.min(excess - met, batch) end, note)
  excess = excess - dead
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
