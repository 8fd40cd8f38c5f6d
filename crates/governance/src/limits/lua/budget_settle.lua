-- Settlement: the estimate leaves `r`, the actual cost enters `s`, `n` counts the request; only
-- on counters whose window is still open (a closed window is left to expire).
-- KEYS: the counters. ARGV[1]: the estimate; ARGV[2]: the actual cost; ARGV[3]: now (ms);
-- ARGV[3 + i]: the end of counter i's window (ms).
-- Returns {s_1, r_1, n_1, …} after settling, -1s for a closed window.
local now = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  if now < tonumber(ARGV[3 + i]) and redis.call('EXISTS', KEYS[i]) == 1 then
    local r = redis.call('HINCRBY', KEYS[i], 'r', '-' .. ARGV[1])
    if r < 0 then
      redis.call('HSET', KEYS[i], 'r', 0)
      r = 0
    end
    out[#out + 1] = redis.call('HINCRBY', KEYS[i], 's', ARGV[2])
    out[#out + 1] = r
    out[#out + 1] = redis.call('HINCRBY', KEYS[i], 'n', 1)
  else
    out[#out + 1] = -1
    out[#out + 1] = -1
    out[#out + 1] = -1
  end
end
return out
