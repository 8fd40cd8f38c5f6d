-- GCRA admission over several buckets, all or none (limits/rate.rs has the arithmetic).
-- KEYS: the buckets. ARGV[1]: now (µs); ARGV[2]: the period (µs); then per bucket i:
-- ARGV[1 + 2i] the increment, ARGV[2 + 2i] the admission check (µs).
-- Returns {0, tat_1, …} when admitted, {i, wait_us} when bucket i refused.
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tats = {}
for i = 1, #KEYS do
  local tat = now
  local stored = redis.call('GET', KEYS[i])
  if stored then
    tat = math.max(tonumber(stored), now)
  end
  local check = tonumber(ARGV[2 + 2 * i])
  if tat + check - now > period then
    return {i, tat + check - period - now}
  end
  tats[i] = tat + tonumber(ARGV[1 + 2 * i])
end
local out = {0}
for i = 1, #KEYS do
  local ttl_ms = math.floor((tats[i] - now) / 1000) + 1
  redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', ttl_ms)
  out[i + 1] = tats[i]
end
return out
