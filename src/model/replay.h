// Replay of a parity case (fixtures README, model/ section): the prompt is prefilled with logits at
// every position, compared with the reference's top-k logits, log-sum-exp, last-row logits,
// position ids and intermediates, then greedy decoding (plain argmax over the KV cache) is
// compared token by token. Intermediates are compared as well as the logits, so that a mismatch
// points at the block where it starts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/qwen2_5_vl.h"
#include "model/replay_case.h"

namespace qwenvl::model {

// Our tensor against the reference's: largest absolute difference, and that divided by the
// reference's largest magnitude. shape_match false when the element counts differ.
struct TensorError {
  double max_abs = 0;
  double max_rel = 0;
  bool shape_match = true;
};

struct ReplayReport {
  std::string case_name;
  int64_t prompt_tokens = 0;
  // Each optional is set when the reference holds what it is compared with.
  std::optional<double> max_abs_topk_logit;
  std::optional<double> max_abs_logsumexp;
  std::optional<double> max_abs_logits_last;
  std::optional<bool> position_ids_match;
  std::optional<bool> rope_delta_match;
  std::optional<double> max_abs_greedy_topk_logit;   // over the steps where our ids still match
  std::map<std::string, TensorError> intermediates;  // text_layer0, vision_block0, ...
  std::map<std::string, bool> exact;                 // vision_window_index, ...
  int64_t greedy_match = 0;                          // leading greedy ids equal to the reference's
  int64_t greedy_total = 0;                          // reference greedy ids
  std::vector<TokenId> greedy_ids;
  double prefill_seconds = 0;
  double decode_seconds = 0;

  // One JSON object (keys as the fixtures README names them).
  std::string ToJson() const;
};

// The fixtures README tolerances for a float32 engine.
struct ReplayTolerances {
  double logits = 2e-3;        // topk_logits, logsumexp, logits_last, greedy top-k (absolute)
  double intermediate = 1e-3;  // relative to the reference's largest magnitude
};

// Every check of the report outside the tolerances, as readable lines (empty: all pass).
std::vector<std::string> ToleranceViolations(const ReplayReport& report,
                                             const ReplayTolerances& tolerances = {});

struct ReplayOptions {
  std::string dump_path;     // when set: our values written as safetensors under reference names
  int64_t chunk_rows = 256;  // prefill chunk size
};

ReplayReport RunReplay(const Model& model, const ReplayCase& c, const ReplayOptions& options);

}  // namespace qwenvl::model
