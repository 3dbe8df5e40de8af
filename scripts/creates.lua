-- wrk script for create throughput: every request POSTs the full definition in
-- $WRITE_TEMPLATE (a JSON file whose @ID@ marks stand for the metric id) under an id no other
-- request uses. Prints one JSON line like scripts/http_bench.py; non-201 answers count as errors.
--
--   WRITE_TEMPLATE=t.json TOKEN=... PREFIX=WB1- wrk -t2 -c10 -d12s -s scripts/creates.lua http://127.0.0.1:3310

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("WRITE_TEMPLATE"), "r"))
  template = f:read("*a")
  f:close()
  prefix = (os.getenv("PREFIX") or "WB-") .. tid .. "-"
  headers = {
    ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
    ["Content-Type"] = "application/json",
  }
  seq = 0
  created = 0
  failed = 0
end

function request()
  seq = seq + 1
  local body = template:gsub("@ID@", string.format("%s%07d", prefix, seq))
  return wrk.format("POST", "/api/v1/metrics", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("created")
    bad = bad + t:get("failed")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"client": "wrk", "ok": %d, "errors": %d, "per_s": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "socket_errors": %d}\n',
    ok, bad + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    ok / secs, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
