#include "server/metrics.h"

#include <cstdio>

namespace qwenvl::server {
namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

std::string Histogram::Render(const std::string& name) const {
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? Number(bounds_[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + Number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
  return out;
}

Metrics::Metrics()
    : latency_({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}),
      ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}) {}

void Metrics::CountRequest(int status) {
  std::lock_guard lock(mu_);
  ++requests_by_status_[status];
}

void Metrics::Submitted() {
  std::lock_guard lock(mu_);
  ++active_;
  ++waiting_;
}

void Metrics::FirstToken(double seconds_since_submit) {
  std::lock_guard lock(mu_);
  --waiting_;
  ttft_.Observe(seconds_since_submit);
}

void Metrics::Finished(bool had_first_token, double seconds, int64_t prompt_tokens,
                       int64_t completion_tokens, bool cancelled) {
  std::lock_guard lock(mu_);
  --active_;
  if (!had_first_token) --waiting_;
  latency_.Observe(seconds);
  prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
  completion_tokens_ += static_cast<uint64_t>(completion_tokens);
  if (cancelled) ++cancelled_;
}

int64_t Metrics::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

int64_t Metrics::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  Header(out, "qwenvl_requests_total", "counter",
         "Generation requests (OpenAI and ollama) by HTTP status.");
  for (const auto& [status, count] : requests_by_status_) {
    out += "qwenvl_requests_total{status=\"" + std::to_string(status) + "\"} " +
           std::to_string(count) + "\n";
  }
  Header(out, "qwenvl_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
  out += "qwenvl_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  Header(out, "qwenvl_generated_tokens_total", "counter", "Tokens generated.");
  out += "qwenvl_generated_tokens_total " + std::to_string(completion_tokens_) + "\n";
  Header(out, "qwenvl_cancelled_requests_total", "counter",
         "Requests cancelled (client disconnected).");
  out += "qwenvl_cancelled_requests_total " + std::to_string(cancelled_) + "\n";
  Header(out, "qwenvl_queue_length", "gauge", "Requests waiting for their first token.");
  out += "qwenvl_queue_length " + std::to_string(waiting_) + "\n";
  Header(out, "qwenvl_active_requests", "gauge", "Requests submitted and not finished.");
  out += "qwenvl_active_requests " + std::to_string(active_) + "\n";
  Header(out, "qwenvl_request_duration_seconds", "histogram",
         "Time from submission to the end of generation.");
  out += latency_.Render("qwenvl_request_duration_seconds");
  Header(out, "qwenvl_time_to_first_token_seconds", "histogram",
         "Time from submission to the first streamed text.");
  out += ttft_.Render("qwenvl_time_to_first_token_seconds");
  return out;
}

}  // namespace qwenvl::server
