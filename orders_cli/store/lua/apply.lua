-- Apply one symbol's batch atomically and conditionally (compare-and-set on revision).
-- All arithmetic on prices/volumes was done in Python (Decimal); this script only checks
-- and writes strings. Every check happens before the first write (Redis does not roll
-- back a script's earlier writes when a later command fails).
--
-- KEYS: 1 state, 2 trades latest (ZSET), 3 trades stream, 4 stats current (HASH),
--       5 symbol info (HASH), 6..12 bars (ZSET) in TIMEFRAMES order
-- ARGV: 1 expected revision ("0" = no state yet)
--       2 n_state_pairs, then that many field/value pairs for the state hash
--       then n_trades, then per trade 10 values: score(T), member, a, p, q, f, l, T, m, E
--       then for each of the 7 timeframes: n_bars, then n pairs window_start, member
--       then n_current_pairs (0 = leave current alone), then the pairs
--       then n_info_pairs, then the pairs
-- Returns {1, new_revision} or {0, actual_revision} on a conflict.

local state = KEYS[1]
local cur = redis.call('HMGET', state, 'revision', 'stream_ms', 'stream_seq')
local rev = cur[1] or '0'
if rev ~= ARGV[1] then
  return {0, rev}
end

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

local i = 2
local n_state = tonumber(ARGV[i]); i = i + 1
local state_args = {}
for _ = 1, n_state do
  state_args[#state_args + 1] = ARGV[i]
  state_args[#state_args + 1] = ARGV[i + 1]
  i = i + 2
end

local n_trades = tonumber(ARGV[i]); i = i + 1
for _ = 1, n_trades do
  local score = ARGV[i]
  redis.call('ZADD', KEYS[2], score, ARGV[i + 1])
  local t = tonumber(score)
  local ms, seq
  if t > last_ms then
    ms = t; seq = 0
  else
    ms = last_ms; seq = last_seq + 1
  end
  last_ms = ms; last_seq = seq
  redis.call('XADD', KEYS[3], string.format('%d-%d', ms, seq),
    'a', ARGV[i + 2], 'p', ARGV[i + 3], 'q', ARGV[i + 4], 'f', ARGV[i + 5],
    'l', ARGV[i + 6], 'T', ARGV[i + 7], 'm', ARGV[i + 8], 'E', ARGV[i + 9])
  i = i + 10
end

for k = 6, 12 do
  local n_bars = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n_bars do
    local ws = ARGV[i]
    redis.call('ZREMRANGEBYSCORE', KEYS[k], ws, ws)
    redis.call('ZADD', KEYS[k], ws, ARGV[i + 1])
    i = i + 2
  end
end

local n_cur = tonumber(ARGV[i]); i = i + 1
if n_cur > 0 then
  local args = {}
  for _ = 1, n_cur do
    args[#args + 1] = ARGV[i]; args[#args + 1] = ARGV[i + 1]
    i = i + 2
  end
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[4], unpack(args))
end

local n_info = tonumber(ARGV[i]); i = i + 1
if n_info > 0 then
  local args = {}
  for _ = 1, n_info do
    args[#args + 1] = ARGV[i]; args[#args + 1] = ARGV[i + 1]
    i = i + 2
  end
  redis.call('HSET', KEYS[5], unpack(args))
end

local new_rev = tostring(tonumber(rev) + 1)
state_args[#state_args + 1] = 'revision'; state_args[#state_args + 1] = new_rev
if last_ms >= 0 then
  state_args[#state_args + 1] = 'stream_ms'
  state_args[#state_args + 1] = string.format('%d', last_ms)
  state_args[#state_args + 1] = 'stream_seq'
  state_args[#state_args + 1] = string.format('%d', last_seq)
end
redis.call('HSET', state, unpack(state_args))
return {1, new_rev}
