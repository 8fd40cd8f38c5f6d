-- Seeds a counter's spent from the durable ledger (after a restart): s = max(s, ARGV[1]).
-- KEYS[1]: the counter; ARGV[2]: its time to live (ms).
local s = tonumber(redis.call('HGET', KEYS[1], 's') or 0)
if tonumber(ARGV[1]) > s then
  redis.call('HSET', KEYS[1], 's', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
