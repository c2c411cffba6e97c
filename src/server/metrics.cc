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

std::string Histogram::Render(const std::string& name, const std::string& labels) const {
  std::string out;
  uint64_t cumulative = 0;
  const std::string more = labels.empty() ? "" : "," + labels;
  const std::string only = labels.empty() ? "" : "{" + labels + "}";
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? Number(bounds_[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"" + more + "} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum" + only + " " + Number(sum_) + "\n";
  out += name + "_count" + only + " " + std::to_string(count_) + "\n";
  return out;
}

Metrics::Metrics()
    : latency_({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}),
      ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      tpot_({0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5}) {}

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

void Metrics::Finished(const FinishedRequest& r) {
  std::lock_guard lock(mu_);
  --active_;
  if (!r.had_first_token) --waiting_;
  latency_.Observe(r.seconds);
  // The time per output token after the first: the decode speed a client sees.
  if (r.had_first_token && r.completion_tokens > 1) {
    tpot_.Observe((r.seconds - r.first_token_seconds) /
                  static_cast<double>(r.completion_tokens - 1));
  }
  prompt_tokens_ += static_cast<uint64_t>(r.prompt_tokens);
  completion_tokens_ += static_cast<uint64_t>(r.completion_tokens);
  if (r.cancelled) ++cancelled_;
}

int64_t Metrics::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

int64_t Metrics::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

namespace {

// A label value in the text format: backslash, quote and newline escaped.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Sample(std::string& out, const char* name, const char* type, const char* help,
            const std::string& value, const std::string& labels = "") {
  Header(out, name, type, help);
  out += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
}

}  // namespace

std::string Metrics::Render(const EngineStats& e, const std::string& model_name) const {
  std::lock_guard lock(mu_);
  const auto n = [](int64_t v) { return std::to_string(v); };
  const double kv_usage = e.kv_rows_capacity > 0 ? static_cast<double>(e.kv_rows_used) /
                                                       static_cast<double>(e.kv_rows_capacity)
                                                 : 0.0;
  std::string out;
  Header(out, "qwenvl_requests_total", "counter",
         "Generation requests (OpenAI and ollama) by HTTP status.");
  for (const auto& [status, count] : requests_by_status_) {
    out += "qwenvl_requests_total{status=\"" + std::to_string(status) + "\"} " +
           std::to_string(count) + "\n";
  }
  Sample(out, "qwenvl_prompt_tokens_total", "counter", "Prompt tokens of finished requests.",
         std::to_string(prompt_tokens_));
  Sample(out, "qwenvl_generated_tokens_total", "counter", "Tokens generated.",
         std::to_string(completion_tokens_));
  Sample(out, "qwenvl_cancelled_requests_total", "counter",
         "Requests cancelled (client disconnected).", std::to_string(cancelled_));
  Sample(out, "qwenvl_queue_length", "gauge", "Requests waiting for their first token.",
         n(waiting_));
  Sample(out, "qwenvl_active_requests", "gauge", "Requests submitted and not finished.",
         n(active_));
  Sample(out, "qwenvl_requests_waiting", "gauge",
         "Requests in the engine's queue, not started yet.", n(e.requests_waiting));
  Sample(out, "qwenvl_requests_running", "gauge", "Requests the engine is prefilling or decoding.",
         n(e.requests_running));
  Sample(out, "qwenvl_kv_cache_usage_ratio", "gauge",
         "KV-cache rows in use over the rows the sequences may hold (0 to 1).", Number(kv_usage));
  Sample(out, "qwenvl_kv_cache_rows", "gauge", "KV-cache rows (tokens) in use.", n(e.kv_rows_used));
  Sample(out, "qwenvl_kv_cache_capacity_rows", "gauge",
         "KV-cache rows the sequences may hold together.", n(e.kv_rows_capacity));
  Sample(out, "qwenvl_vision_cache_entries", "gauge", "Vision encodings kept for later requests.",
         n(e.vision_cache_entries));
  Sample(out, "qwenvl_vision_cache_bytes", "gauge", "Bytes of the vision encodings kept.",
         n(e.vision_cache_bytes));
  Sample(out, "qwenvl_vision_cache_hits_total", "counter",
         "Pictures and videos whose encoding came from the vision cache.",
         n(e.vision_cache_hits_total));
  Sample(out, "qwenvl_vision_cache_misses_total", "counter",
         "Pictures and videos the vision encoder encoded.", n(e.vision_cache_misses_total));
  Sample(out, "qwenvl_prefix_cache_hit_tokens_total", "counter",
         "Prompt tokens reused from a KV cache instead of computed.",
         n(e.prefix_cache_hit_tokens_total));
  Sample(out, "qwenvl_prefix_cache_media_total", "counter",
         "Pictures and videos inside reused prompt prefixes (not encoded, not looked up).",
         n(e.prefix_cache_media_total));
  Sample(out, "qwenvl_prefix_cache_queried_tokens_total", "counter",
         "Prompt tokens of the requests that went through prefill.", n(e.prompt_tokens_total));
  Header(out, "qwenvl_request_duration_seconds", "histogram",
         "Time from submission to the end of generation.");
  out += latency_.Render("qwenvl_request_duration_seconds");
  Header(out, "qwenvl_time_to_first_token_seconds", "histogram",
         "Time from submission to the first streamed text.");
  out += ttft_.Render("qwenvl_time_to_first_token_seconds");
  Header(out, "qwenvl_time_per_output_token_seconds", "histogram",
         "Time per generated token after the first, per request.");
  out += tpot_.Render("qwenvl_time_per_output_token_seconds");

  // The same gauges under vLLM's names, which the inference extension's endpoint picker and
  // dashboards built for vLLM read.
  const std::string model = "model_name=\"" + LabelValue(model_name) + "\"";
  Sample(out, "vllm:num_requests_waiting", "gauge", "Requests waiting to be processed.",
         n(e.requests_waiting), model);
  Sample(out, "vllm:num_requests_running", "gauge", "Requests being processed.",
         n(e.requests_running), model);
  Sample(out, "vllm:gpu_cache_usage_perc", "gauge", "KV-cache usage (1 means 100 percent).",
         Number(kv_usage), model);
  Sample(out, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage (1 means 100 percent).",
         Number(kv_usage), model);
  // No LoRA adapters are served: the series exists with empty adapter lists, as the protocol
  // expects from a server that supports none.
  Sample(out, "vllm:lora_requests_info", "gauge", "Running and waiting LoRA adapters.", "1",
         "max_lora=\"0\",running_lora_adapters=\"\",waiting_lora_adapters=\"\"");
  Header(out, "vllm:time_to_first_token_seconds", "histogram", "Time to the first token.");
  out += ttft_.Render("vllm:time_to_first_token_seconds", model);
  Header(out, "vllm:time_per_output_token_seconds", "histogram", "Time per output token.");
  out += tpot_.Render("vllm:time_per_output_token_seconds", model);
  return out;
}

}  // namespace qwenvl::server
