#include "model/replay.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "util/error.h"

namespace qwenvl::model {
namespace {

constexpr int64_t kDefaultTopK = 8;  // the fixtures keep the 8 largest logits per row

// Our prefill and decode values, named as the reference names them. The top-k ids stay int64_t:
// they are written as they are, beside the reference's I64 tensors of the same names.
struct Ours {
  int64_t k = kDefaultTopK;
  std::vector<int64_t> topk_ids;   // [L, k]
  std::vector<float> topk_logits;  // [L, k]
  std::vector<float> logsumexp;    // [L]
  std::vector<float> logits_last;  // [vocab]
  PositionIds positions;
  DecoderTaps text;
  VisionTaps vision;
  std::vector<float> vision_embeds;       // [tokens, hidden]
  std::vector<int64_t> greedy_topk_ids;   // [steps, k]
  std::vector<float> greedy_topk_logits;  // [steps, k]
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

double LogSumExp(const float* x, int64_t n) {
  const float max = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  return max + std::log(sum);
}

// The k largest values of x[n], largest first; ties keep the lower index first.
void TopK(const float* x, int64_t n, int64_t k, int64_t* ids, float* vals) {
  int64_t filled = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (filled == k && x[i] <= vals[k - 1]) continue;
    int64_t j = filled < k ? filled++ : k - 1;
    while (j > 0 && vals[j - 1] < x[i]) {
      vals[j] = vals[j - 1];
      ids[j] = ids[j - 1];
      --j;
    }
    vals[j] = x[i];
    ids[j] = i;
  }
}

TokenId ArgMax(std::span<const float> x) {
  // The first maximum, as torch.argmax; the logits have one entry per token id.
  return static_cast<TokenId>(std::max_element(x.begin(), x.end()) - x.begin());
}

// max_k |logits[ref_ids[k]] − ref_vals[k]|
double MaxAbsAtIds(const float* logits, int64_t vocab, const int64_t* ref_ids,
                   const float* ref_vals, int64_t k) {
  double m = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t id = std::clamp<int64_t>(ref_ids[j], 0, vocab - 1);
    m = std::max(m, std::abs(static_cast<double>(logits[id]) - ref_vals[j]));
  }
  return m;
}

TensorError Compare(const std::vector<float>& ours, const std::vector<float>& ref) {
  TensorError e;
  if (ours.size() != ref.size()) {
    e.shape_match = false;
    return e;
  }
  double ref_max = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    e.max_abs = std::max(e.max_abs, std::abs(static_cast<double>(ours[i]) - ref[i]));
    ref_max = std::max(ref_max, std::abs(static_cast<double>(ref[i])));
  }
  e.max_rel = ref_max > 0 ? e.max_abs / ref_max : e.max_abs;
  return e;
}

// The reference tensor `name` when it has F32 (or I64) values; nullptr otherwise.
const RefTensor* FindF32(const ReplayCase& c, const char* name) {
  const RefTensor* t = c.Find(name);
  return t != nullptr && !t->f32.empty() ? t : nullptr;
}
const RefTensor* FindI64(const ReplayCase& c, const char* name) {
  const RefTensor* t = c.Find(name);
  return t != nullptr && !t->i64.empty() ? t : nullptr;
}

bool WantsVisionTaps(const ReplayCase& c, const ReplayOptions& options) {
  if (!options.dump_path.empty()) return true;
  for (const auto& [name, t] : c.reference) {
    if (name.rfind("vision_", 0) == 0) return true;
  }
  return false;
}

// Per-row statistics of one prefill chunk's logits [rows, vocab], compared on the fly so that the
// whole [L, vocab] matrix is never held.
void ScoreChunk(const ReplayCase& c, int64_t first, int64_t rows, std::span<const float> logits,
                int64_t vocab, Ours& ours, ReplayReport& r) {
  const RefTensor* ref_ids = FindI64(c, "topk_ids");
  const RefTensor* ref_vals = FindF32(c, "topk_logits");
  const RefTensor* ref_lse = FindF32(c, "logsumexp");
  const int64_t k = ours.k;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t g = first + i;
    const float* row = logits.data() + i * vocab;
    TopK(row, vocab, k, &ours.topk_ids[g * k], &ours.topk_logits[g * k]);
    ours.logsumexp[g] = static_cast<float>(LogSumExp(row, vocab));
    if (ref_ids != nullptr && ref_vals != nullptr && (g + 1) * k <= ref_ids->numel() &&
        ref_ids->numel() == ref_vals->numel()) {
      const double e = MaxAbsAtIds(row, vocab, &ref_ids->i64[g * k], &ref_vals->f32[g * k], k);
      r.max_abs_topk_logit = std::max(r.max_abs_topk_logit.value_or(0.0), e);
    }
    if (ref_lse != nullptr && g < ref_lse->numel()) {
      const double e = std::abs(static_cast<double>(ours.logsumexp[g]) - ref_lse->f32[g]);
      r.max_abs_logsumexp = std::max(r.max_abs_logsumexp.value_or(0.0), e);
    }
  }
}

Sequence Prefill(const Model& model, const ReplayCase& c, const ReplayOptions& options, Ours& ours,
                 ReplayReport& r) {
  const auto n = static_cast<int64_t>(c.input_ids.size());
  const int64_t vocab = model.decoder().vocab_size();
  if (const RefTensor* t = FindI64(c, "topk_ids"); t != nullptr && t->shape.size() == 2) {
    ours.k = std::clamp<int64_t>(t->shape[1], 1, vocab);
  }
  ours.topk_ids.assign(static_cast<size_t>(n * ours.k), 0);
  ours.topk_logits.assign(static_cast<size_t>(n * ours.k), 0.0f);
  ours.logsumexp.assign(static_cast<size_t>(n), 0.0f);
  ours.text.enabled = true;
  ours.vision.enabled = WantsVisionTaps(c, options);

  Sequence sequence(model, n + std::max<int64_t>(1, static_cast<int64_t>(c.greedy_ids.size())));
  AppendOptions append{.logit_rows = LogitRows::kAll,
                       .chunk_rows = options.chunk_rows,
                       .on_logits =
                           [&](int64_t first, int64_t rows, std::span<const float> logits) {
                             ScoreChunk(c, first, rows, logits, vocab, ours, r);
                           },
                       .decoder_taps = &ours.text,
                       .vision_taps = &ours.vision,
                       .vision_embeds = &ours.vision_embeds};
  ours.positions = sequence.Append(c.Prompt(), append);
  ours.logits_last.assign(sequence.logits().begin(), sequence.logits().end());
  return sequence;
}

void ComparePositions(const ReplayCase& c, const Ours& ours, ReplayReport& r) {
  if (const RefTensor* t = FindI64(c, "position_ids")) {
    const PositionIds& p = ours.positions;
    std::vector<int64_t> flat(p.t);
    flat.insert(flat.end(), p.h.begin(), p.h.end());
    flat.insert(flat.end(), p.w.begin(), p.w.end());
    r.position_ids_match = flat == t->i64;
  }
  if (c.rope_delta) r.rope_delta_match = *c.rope_delta == ours.positions.rope_delta;
  if (const RefTensor* t = FindF32(c, "logits_last")) {
    const TensorError e = Compare(ours.logits_last, t->f32);
    r.max_abs_logits_last = e.shape_match ? e.max_abs : INFINITY;
  }
}

void CompareIntermediates(const ReplayCase& c, const Ours& ours, ReplayReport& r) {
  const std::pair<const char*, const std::vector<float>*> floats[] = {
      {"text_layer0", &ours.text.layer0},
      {"text_final_norm", &ours.text.final_norm},
      {"vision_patch_embed", &ours.vision.patch_embed},
      {"vision_block0", &ours.vision.block0},
      {"vision_block_last", &ours.vision.block_last},
      {"vision_embeds", &ours.vision_embeds}};
  for (const auto& [name, values] : floats) {
    if (const RefTensor* t = FindF32(c, name)) r.intermediates[name] = Compare(*values, t->f32);
  }
  const std::pair<const char*, const std::vector<int64_t>*> ints[] = {
      {"vision_window_index", &ours.vision.window_index},
      {"vision_cu_window_seqlens", &ours.vision.cu_window_seqlens}};
  for (const auto& [name, values] : ints) {
    if (const RefTensor* t = FindI64(c, name)) r.exact[name] = *values == t->i64;
  }
}

// Greedy decoding (plain argmax) over the KV cache, compared step by step (§5.4 positions).
void Greedy(const Model& model, const ReplayCase& c, Sequence& sequence, Ours& ours,
            ReplayReport& r) {
  const RefTensor* ref_ids = FindI64(c, "greedy_topk_ids");
  const RefTensor* ref_vals = FindF32(c, "greedy_topk_logits");
  const std::vector<TokenId>& eos = model.config().eos_token_ids;
  const int64_t vocab = model.decoder().vocab_size(), k = ours.k;
  r.greedy_total = static_cast<int64_t>(c.greedy_ids.size());
  std::span<const float> logits = sequence.logits();
  bool matching = true;  // our ids so far equal the reference's
  for (int64_t step = 0; step < r.greedy_total; ++step) {
    if (matching && ref_ids != nullptr && ref_vals != nullptr &&
        (step + 1) * k <= std::min(ref_ids->numel(), ref_vals->numel())) {
      const double e =
          MaxAbsAtIds(logits.data(), vocab, &ref_ids->i64[step * k], &ref_vals->f32[step * k], k);
      r.max_abs_greedy_topk_logit = std::max(r.max_abs_greedy_topk_logit.value_or(0.0), e);
    }
    ours.greedy_topk_ids.resize(static_cast<size_t>((step + 1) * k));
    ours.greedy_topk_logits.resize(static_cast<size_t>((step + 1) * k));
    TopK(logits.data(), vocab, k, &ours.greedy_topk_ids[step * k],
         &ours.greedy_topk_logits[step * k]);
    const TokenId token = ArgMax(logits);
    r.greedy_ids.push_back(token);
    matching = matching && token == c.greedy_ids[step];
    r.greedy_match += matching;
    if (std::find(eos.begin(), eos.end(), token) != eos.end()) break;
    if (step + 1 < r.greedy_total) logits = sequence.Step(token);
  }
}

template <class T>
void AddTensor(std::vector<io::OwnedTensor>& out, const char* name, io::DType dtype,
               const std::vector<T>& values, int64_t cols) {
  if (values.empty() || cols <= 0) return;
  const auto n = static_cast<int64_t>(values.size());
  std::vector<int64_t> shape = cols == n ? std::vector<int64_t>{n} : std::vector{n / cols, cols};
  out.push_back(io::MakeTensor<T>(name, dtype, shape, values));
}

void Dump(const std::string& path, const Model& model, const Ours& o, const ReplayReport& r) {
  using io::DType;
  const int64_t hidden = model.decoder().hidden(), hv = model.config().vision.hidden_size;
  const int64_t seq = o.positions.size();
  std::vector<int64_t> positions(o.positions.t);
  positions.insert(positions.end(), o.positions.h.begin(), o.positions.h.end());
  positions.insert(positions.end(), o.positions.w.begin(), o.positions.w.end());
  std::vector<io::OwnedTensor> t;
  AddTensor(t, "topk_ids", DType::kI64, o.topk_ids, o.k);
  AddTensor(t, "topk_logits", DType::kF32, o.topk_logits, o.k);
  AddTensor(t, "logsumexp", DType::kF32, o.logsumexp, seq);
  AddTensor(t, "logits_last", DType::kF32, o.logits_last, model.decoder().vocab_size());
  AddTensor(t, "position_ids", DType::kI64, positions, seq);
  AddTensor(t, "text_layer0", DType::kF32, o.text.layer0, hidden);
  AddTensor(t, "text_final_norm", DType::kF32, o.text.final_norm, hidden);
  AddTensor(t, "vision_patch_embed", DType::kF32, o.vision.patch_embed, hv);
  AddTensor(t, "vision_block0", DType::kF32, o.vision.block0, hv);
  AddTensor(t, "vision_block_last", DType::kF32, o.vision.block_last, hv);
  AddTensor(t, "vision_embeds", DType::kF32, o.vision_embeds, hidden);
  AddTensor(t, "vision_window_index", DType::kI64, o.vision.window_index,
            static_cast<int64_t>(o.vision.window_index.size()));
  AddTensor(t, "vision_cu_window_seqlens", DType::kI64, o.vision.cu_window_seqlens,
            static_cast<int64_t>(o.vision.cu_window_seqlens.size()));
  // Written as I64, the type of the reference's id tensors, so that both files read alike.
  const std::vector<int64_t> greedy_ids(r.greedy_ids.begin(), r.greedy_ids.end());
  AddTensor(t, "greedy_ids", DType::kI64, greedy_ids, static_cast<int64_t>(greedy_ids.size()));
  AddTensor(t, "greedy_topk_ids", DType::kI64, o.greedy_topk_ids, o.k);
  AddTensor(t, "greedy_topk_logits", DType::kF32, o.greedy_topk_logits, o.k);
  io::WriteSafetensors(path, t);
}

}  // namespace

ReplayReport RunReplay(const Model& model, const ReplayCase& c, const ReplayOptions& options) {
  ReplayReport r;
  r.case_name = c.name;
  r.prompt_tokens = static_cast<int64_t>(c.input_ids.size());
  Ours ours;
  auto start = std::chrono::steady_clock::now();
  Sequence sequence = Prefill(model, c, options, ours, r);
  r.prefill_seconds = Seconds(start);
  ComparePositions(c, ours, r);
  CompareIntermediates(c, ours, r);
  start = std::chrono::steady_clock::now();
  Greedy(model, c, sequence, ours, r);
  r.decode_seconds = Seconds(start);
  if (!options.dump_path.empty()) Dump(options.dump_path, model, ours, r);
  return r;
}

std::string ReplayReport::ToJson() const {
  nlohmann::ordered_json j;
  j["case"] = case_name;
  j["prompt_tokens"] = prompt_tokens;
  auto put = [&j](const char* key, const auto& value) {
    if (value) j[key] = *value;
  };
  put("max_abs_topk_logit", max_abs_topk_logit);
  put("max_abs_logsumexp", max_abs_logsumexp);
  put("max_abs_logits_last", max_abs_logits_last);
  put("position_ids_match", position_ids_match);
  put("rope_delta_match", rope_delta_match);
  put("max_abs_greedy_topk_logit", max_abs_greedy_topk_logit);
  for (const auto& [name, e] : intermediates) {
    j[name] = e.shape_match ? nlohmann::ordered_json{{"max_abs", e.max_abs}, {"max_rel", e.max_rel}}
                            : nlohmann::ordered_json{{"shape_match", false}};
  }
  for (const auto& [name, match] : exact) j[name + "_match"] = match;
  j["greedy_match"] = greedy_match;
  j["greedy_total"] = greedy_total;
  j["greedy_ids"] = greedy_ids;
  j["prefill_seconds"] = prefill_seconds;
  j["decode_seconds"] = decode_seconds;
  return j.dump();
}

std::vector<std::string> ToleranceViolations(const ReplayReport& r, const ReplayTolerances& tol) {
  std::vector<std::string> out;
  auto check = [&](const char* name, const std::optional<double>& v, double limit) {
    if (v && !(*v <= limit)) {
      out.push_back(std::string(name) + " " + std::to_string(*v) + " > " + std::to_string(limit));
    }
  };
  check("max_abs_topk_logit", r.max_abs_topk_logit, tol.logits);
  check("max_abs_logsumexp", r.max_abs_logsumexp, tol.logits);
  check("max_abs_logits_last", r.max_abs_logits_last, tol.logits);
  check("max_abs_greedy_topk_logit", r.max_abs_greedy_topk_logit, tol.logits);
  if (r.position_ids_match == false) out.push_back("position_ids differ");
  if (r.rope_delta_match == false) out.push_back("rope_delta differs");
  for (const auto& [name, e] : r.intermediates) {
    if (!e.shape_match) out.push_back(name + ": shape differs from the reference");
    if (e.shape_match) check(name.c_str(), e.max_rel, tol.intermediate);
  }
  for (const auto& [name, match] : r.exact) {
    if (!match) out.push_back(name + " differs");
  }
  if (r.greedy_match != r.greedy_total) {
    out.push_back("greedy ids: " + std::to_string(r.greedy_match) + " of " +
                  std::to_string(r.greedy_total) + " match");
  }
  return out;
}

}  // namespace qwenvl::model
