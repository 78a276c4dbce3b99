-- wrk script of scripts/bench: one machine-readable line at the end.
-- Only done() is defined, so wrk keeps its fast path (a static request,
-- no Lua per request or per response).  Latencies are in microseconds.

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d " ..
      "write=%d status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d " ..
      "p999_us=%d max_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50),
      latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean))
end
