-- Budget admission over several counters (hashes s = spent, r = reserved, n = requests), all or
-- none. KEYS: the counters. ARGV[1]: the estimate (µUSD); then per counter i: ARGV[2i] the
-- limit, ARGV[2i + 1] its time to live (ms, until the window ends).
-- Returns {0, s_1, r_1, …} (before reserving) when admitted, {i, s_i, r_i} when counter i is
-- used up.
local estimate = ARGV[1]
local before = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 's', 'r')
  local s = tonumber(v[1] or 0)
  local r = tonumber(v[2] or 0)
  if s + r >= tonumber(ARGV[2 * i]) then
    return {i, s, r}
  end
  before[i] = {s, r}
end
local out = {0}
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'r', estimate)
  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
  out[#out + 1] = before[i][1]
  out[#out + 1] = before[i][2]
end
return out
