-- Apply one symbol's batch atomically and conditionally (compare-and-set on revision).
-- All arithmetic on prices/volumes was done in Python (Decimal); this script only checks
-- and writes strings. Every check happens before the first write (Redis does not roll
-- back a script's earlier writes when a later command fails).
--
-- KEYS: 1 state, 2 trades latest (ZSET), 3 trades stream, 4 stats current (HASH),
--       5 symbol info (HASH), 6..12 bars (ZSET) in TIMEFRAMES order
-- ARGV[1]: expected revision ("0" = no state yet)
-- ARGV[2]: JSON (one argument: packing ~100 arguments per call costs more in the client
--          than cjson costs here). Every number in it is a string (Lua numbers are doubles).
--   {"s": [field, value, ...]              state hash fields
--    "t": [[T, member, a, p, q, f, l, T, m, E], ...]   trades, in id order
--    "b": [[[window_start, member, replace], ...] x 7]  bars per timeframe
--    "c": [field, value, ...]              stats current (empty = leave it)
--    "i": [field, value, ...]}             symbol info fields
-- Returns {1, new_revision} or {0, actual_revision} on a conflict.

local state = KEYS[1]
local cur = redis.call('HMGET', state, 'revision', 'stream_ms', 'stream_seq')
local rev = cur[1] or '0'
if rev ~= ARGV[1] then
  return {0, rev}
end
local d = cjson.decode(ARGV[2])

local last_ms = tonumber(cur[2] or '-1')
local last_seq = tonumber(cur[3] or '0')
if cur[2] == false then
  -- no cursor yet: never go below an existing stream's top entry
  local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #top > 0 then
    local id = top[1][1]
    local dash = string.find(id, '-', 1, true)
    last_ms = tonumber(string.sub(id, 1, dash - 1))
    last_seq = tonumber(string.sub(id, dash + 1))
  end
end

for _, t in ipairs(d.t) do
  redis.call('ZADD', KEYS[2], t[1], t[2])
  local ms = tonumber(t[1])
  if ms > last_ms then
    last_ms = ms; last_seq = 0
  else
    last_seq = last_seq + 1
  end
  redis.call('XADD', KEYS[3], string.format('%d-%d', last_ms, last_seq),
    'a', t[3], 'p', t[4], 'q', t[5], 'f', t[6], 'l', t[7], 'T', t[8], 'm', t[9], 'E', t[10])
end

for k, bars in ipairs(d.b) do
  local key = KEYS[5 + k]
  for _, b in ipairs(bars) do
    if b[3] == '1' then
      redis.call('ZREMRANGEBYSCORE', key, b[1], b[1])
    end
    redis.call('ZADD', key, b[1], b[2])
  end
end

if #d.c > 0 then
  redis.call('HSET', KEYS[4], unpack(d.c))
end
if #d.i > 0 then
  redis.call('HSET', KEYS[5], unpack(d.i))
end

local s = d.s
local new_rev = tostring(tonumber(rev) + 1)
s[#s + 1] = 'revision'; s[#s + 1] = new_rev
if last_ms >= 0 then
  s[#s + 1] = 'stream_ms'; s[#s + 1] = string.format('%d', last_ms)
  s[#s + 1] = 'stream_seq'; s[#s + 1] = string.format('%d', last_seq)
end
redis.call('HSET', state, unpack(s))
return {1, new_rev}
