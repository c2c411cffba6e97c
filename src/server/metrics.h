// Server counters exposed at GET /metrics in the Prometheus text format (version 0.0.4): the
// server's own (requests by status, latencies) and the engine's (queue, KV cache, vision cache,
// prefix reuse), under qwenvl_* names and, for the gauges and histograms that load balancers route
// on, under the vLLM names the Gateway API Inference Extension's model-server protocol documents.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // "<name>_bucket{le=...}", "<name>_sum", "<name>_count" lines; labels (`a="b"`) go on each.
  std::string Render(const std::string& name, const std::string& labels = "") const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; the last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// How one submitted generation ended, for Metrics::Finished.
struct FinishedRequest {
  bool had_first_token = false;
  double seconds = 0;              // submission to the end
  double first_token_seconds = 0;  // submission to the first text (with had_first_token)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  bool cancelled = false;
};

class Metrics {
 public:
  Metrics();
  // One finished HTTP request on a generation endpoint (any status).
  void CountRequest(int status);
  // Generation lifecycle: Submitted -> (FirstToken) -> Finished.
  void Submitted();
  void FirstToken(double seconds_since_submit);
  void Finished(const FinishedRequest& r);
  // model_name labels the vLLM-named series (as vLLM labels them).
  std::string Render(const EngineStats& engine, const std::string& model_name) const;

  int64_t active() const;
  int64_t waiting() const;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> requests_by_status_;
  int64_t active_ = 0;   // submitted and not finished
  int64_t waiting_ = 0;  // submitted, no token yet (queued or in prefill)
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0, cancelled_ = 0;
  Histogram latency_, ttft_, tpot_;
};

}  // namespace qwenvl::server
