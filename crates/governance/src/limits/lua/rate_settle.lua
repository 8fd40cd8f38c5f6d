-- Token correction at settlement. KEYS: token buckets. ARGV[1]: now (µs); ARGV[1 + i]: the
-- TAT correction of bucket i (µs, negative refunds).
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
  local delta = tonumber(ARGV[1 + i])
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then
    tat = math.max(tonumber(stored), now)
  end
  if stored or delta > 0 then
    tat = tat + delta
    if tat > now then
      local ttl_ms = math.floor((tat - now) / 1000) + 1
      redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', ttl_ms)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 0
