// Server counters exposed at GET /metrics in the Prometheus text format (version 0.0.4).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace qwenvl::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // "<name>_bucket{le=...}", "<name>_sum", "<name>_count" lines.
  std::string Render(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; the last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // One finished HTTP request on a generation endpoint (any status).
  void CountRequest(int status);
  // Generation lifecycle: Submitted -> (FirstToken) -> Finished.
  void Submitted();
  void FirstToken(double seconds_since_submit);
  void Finished(bool had_first_token, double seconds, int64_t prompt_tokens,
                int64_t completion_tokens, bool cancelled);
  std::string Render() const;

  int64_t active() const;
  int64_t waiting() const;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> requests_by_status_;
  int64_t active_ = 0;   // submitted and not finished
  int64_t waiting_ = 0;  // submitted, no token yet (queued or in prefill)
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0, cancelled_ = 0;
  Histogram latency_, ttft_;
};

}  // namespace qwenvl::server
