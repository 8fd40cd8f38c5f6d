-- wrk script for the governance row (bench/run.sh): POSTs the file named by $BENCH_BODY with a
-- counter spliced into its "Say hello" input, so no two requests are alike (every response cache
-- lookup misses), and prints one JSON line at the end like post.lua.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local at = assert(string.find(body, "Say hello", 1, true), "the body has no \"Say hello\"")
local head, tail = string.sub(body, 1, at + 8), string.sub(body, at + 9)
local headers = {["Content-Type"] = "application/json"}
local key = os.getenv("BENCH_BEARER")
if key and key ~= "" then
  headers["Authorization"] = "Bearer " .. key
end
local n = 0

function request()
  n = n + 1
  return wrk.format("POST", nil, headers, head .. " " .. n .. tail)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"requests_per_sec":%.1f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.requests / secs,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
