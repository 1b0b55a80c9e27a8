-- Adds nothing to the requests (give headers with -H); prints one machine-readable line at the
-- end, latencies in microseconds from wrk's full histogram:
--   WRK_JSON {"requests":..,"duration_us":..,"p50_us":..,"p99_us":..,"status_errors":..,...}

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"mean_us":%.1f,"stdev_us":%.1f,"min_us":%.1f,"max_us":%.1f,'
      .. '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
      .. '"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout))
end
