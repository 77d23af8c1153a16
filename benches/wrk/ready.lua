-- wrk script: GET /ready, reporting latency percentiles (run beside an overload).
done = function(summary, latency, requests)
  io.write(string.format("ready: %d requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
