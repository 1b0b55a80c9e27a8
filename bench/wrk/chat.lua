-- POST one non-streaming chat completion per request; print exact percentiles when done.
--   BENCH_API_KEY  optional: sent as "Authorization: Bearer <key>"
-- The last line of output is machine-readable (latencies in microseconds):
--   BENCH requests=.. duration_us=.. rps=.. p50_us=.. p90_us=.. p99_us=.. ... errors=..

wrk.method = "POST"
wrk.body = '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_API_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f mean_us=%.1f p50_us=%.1f p90_us=%.1f "
      .. "p99_us=%.1f max_us=%.1f errors=%d status_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, errors, e.status))
end
