-- Apply one symbol's batch atomically and conditionally (compare-and-set on revision).
-- All arithmetic on prices/volumes was done in Python (Decimal); this script only checks
-- and writes strings. Every check happens before the first write (Redis does not roll
-- back a script's earlier writes when a later command fails).
--
-- KEYS: 1 state, 2 trades latest (ZSET), 3 trades stream, 4 stats current (HASH),
--       5 symbol info (HASH), then one bars ZSET per timeframe in the timeframe table's
--       order: the number of timeframes NTF is #KEYS - 5 (store/keys.py SYMBOL_KEY_COUNT)
-- ARGV (flat strings: no JSON to decode here; cjson costs ~15 us per KB in Redis 7):
--   [1] expected revision ("0" = no state yet)
--   [2] number of trades NT, [3..2+NTF] number of bars per timeframe, then the number of
--       stats-current values NC (0, or all of CURRENT below), of info fields NI and of
--       state fields NS
--   then NT x 9: trade_time, member, a, p, q, f, l, m, E   (trades in id order)
--   then per timeframe, its bars x 3: window_start, member, replace ("1": remove first)
--   then NC values (in CURRENT's order: no field names to send), NI x 2, NS x 2: field, value
-- Returns {1, new_revision} or {0, actual_revision} on a conflict.

-- the stats:{S}:current field names, in order (filled in from codec.CURRENT_FIELDS at load)
local CURRENT = {--[[CURRENT_FIELDS]]}

local ntf = #KEYS - 5
if ntf < 1 then
  return redis.error_reply('apply: expected 5 keys and one per timeframe, got ' .. #KEYS)
end

local state = KEYS[1]
local cur = redis.call('HMGET', state, 'revision', 'stream_ms', 'stream_seq')
local rev = cur[1] or '0'
if rev ~= ARGV[1] then
  return {0, rev}
end

local nt = tonumber(ARGV[2])
local i = 6 + ntf

if nt > 0 then
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
  local z = {}
  for k = 1, nt do
    local tt = ARGV[i]
    z[#z + 1] = tt; z[#z + 1] = ARGV[i + 1]
    if #z >= 2000 then -- unpack() is limited by the Lua C stack (~8000 values)
      redis.call('ZADD', KEYS[2], unpack(z)); z = {}
    end
    local ms = tonumber(tt)
    if ms > last_ms then
      last_ms = ms; last_seq = 0
    else
      last_seq = last_seq + 1
    end
    redis.call('XADD', KEYS[3], string.format('%d-%d', last_ms, last_seq),
      'a', ARGV[i + 2], 'p', ARGV[i + 3], 'q', ARGV[i + 4], 'f', ARGV[i + 5],
      'l', ARGV[i + 6], 'T', tt, 'm', ARGV[i + 7], 'E', ARGV[i + 8])
    i = i + 9
  end
  if #z > 0 then
    redis.call('ZADD', KEYS[2], unpack(z))
  end
  cur[2] = string.format('%d', last_ms); cur[3] = string.format('%d', last_seq)
end

for k = 1, ntf do
  local key = KEYS[5 + k]
  for _ = 1, tonumber(ARGV[2 + k]) do
    if ARGV[i + 2] == '1' then
      redis.call('ZREMRANGEBYSCORE', key, ARGV[i], ARGV[i])
    end
    redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
    i = i + 3
  end
end

local function hset(key, n)
  if n > 0 then
    redis.call('HSET', key, unpack(ARGV, i, i + 2 * n - 1))
    i = i + 2 * n
  end
end
local nc = tonumber(ARGV[3 + ntf])
if nc > 0 then
  local c = {}
  for k = 1, nc do
    c[2 * k - 1] = CURRENT[k]; c[2 * k] = ARGV[i + k - 1]
  end
  redis.call('HSET', KEYS[4], unpack(c))
  i = i + nc
end
hset(KEYS[5], tonumber(ARGV[4 + ntf]))

local ns = tonumber(ARGV[5 + ntf])
local s = {}
for k = 1, 2 * ns do
  s[k] = ARGV[i + k - 1]
end
local new_rev = tostring(tonumber(rev) + 1)
s[#s + 1] = 'revision'; s[#s + 1] = new_rev
if nt > 0 then
  s[#s + 1] = 'stream_ms'; s[#s + 1] = cur[2]
  s[#s + 1] = 'stream_seq'; s[#s + 1] = cur[3]
end
redis.call('HSET', state, unpack(s))
return {1, new_rev}
