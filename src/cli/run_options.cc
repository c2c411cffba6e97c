#include "cli/run_options.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/model_argument.h"
#include "compute/backends.h"
#include "text/utf8.h"
#include "util/error.h"

namespace qwenvl::cli {

EngineOptions ModelOptions::ToEngineOptions() const {
  EngineOptions e;
  e.model_dir = model_dir;
  e.threads = threads;
  e.backend = backend;
  e.kernels = kernels;
  e.context_length = context;
  e.text_weights = ParseWeightPrecision(weights);
  e.vision_weights = ParseWeightPrecision(vision_weights);
  e.resident_weights = !mmap;
  if (no_weight_cache) e.weight_cache = "off";
  if (!kv_type.empty()) e.kv_type = ParseKvType(kv_type);
  return e;
}

void AddKvTypeOption(CLI::App* cmd, std::string& name, const std::string& default_text) {
  cmd->add_option("--kv-type", name,
                  "KV-cache type: bf16 (half of f32's memory and of the bytes decode attention "
                  "reads), q8 (int8 in blocks of 32 with a float scale, about 28%), f32 (nothing "
                  "rounded). Default: " +
                      default_text)
      ->check(CLI::IsMember({"f32", "bf16", "q8"}));
}

KvType KvTypeFor(const std::string& name, const std::string& kernels) {
  EngineOptions e;
  e.kernels = kernels;
  if (!name.empty()) e.kv_type = ParseKvType(name);
  return ResolvedKvType(e);
}

void AddKernelsOption(CLI::App* cmd, std::string& spec) {
  cmd->add_option(
         "--kernels", spec,
         "MatMul kernels of the cpu backend: auto (the fastest for this CPU, measured once "
         "and cached; $QWENVL_KERNELS overrides), measure (measure again, update the cache), "
         "or a comma-separated list of "
         "[SELECTOR=]KERNEL, SELECTOR being a weight format (f32 bf16 f16 q8 q4), a size "
         "(gemv: decode, gemm: prefill and vision) or FORMAT.SIZE, KERNEL one of f32 "
         "(nothing rounded), int8, bf16-dot, amx-bf16. Example: bf16.gemm=amx-bf16,q8=int8")
      ->default_str("auto");
}

SamplingParams GenerationOptions::ToSamplingParams() const {
  SamplingParams p;
  p.max_new_tokens = max_tokens;
  p.temperature = temperature;
  p.top_p = top_p;
  p.min_p = min_p;
  p.top_k = top_k;
  p.repetition_penalty = repetition_penalty;
  p.seed = seed;
  p.stop = stop;
  return p;
}

void MediaBudgetOptions::ApplyTo(Media& m) const {
  if (min_pixels) m.min_pixels = min_pixels;
  if (max_pixels) m.max_pixels = max_pixels;
  if (m.kind != Media::Kind::kVideo) return;
  if (fps) m.fps = fps;
  if (max_frames) m.max_frames = max_frames;
  if (total_pixels) m.total_pixels = total_pixels;
}

void AddModelOptions(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("-m,--model", o.model_dir,
                  "Model folder (config.json, safetensors, tokenizer) or hub name "
                  "ORG/NAME[@REV] from the Hugging Face cache (see `qwenvl pull`)")
      ->required()
      ->transform(ModelArgument());
  cmd->add_option("-t,--threads", o.threads, "Worker threads (0: one per core)");
  cmd->add_option("--backend", o.backend,
                  "Compute backend: cpu (SIMD kernels over the threads) or reference (plain "
                  "scalar kernels on one thread, slow)")
      ->check(CLI::IsMember(compute::BackendNames()));
  AddKernelsOption(cmd, o.kernels);
  AddKvTypeOption(cmd, o.kv_type, "bf16 (f32 with --kernels f32)");
  cmd->add_option("-c,--ctx", o.context,
                  "Context length in tokens (KV-cache capacity, up to the model's "
                  "max_position_embeddings; default 32768, less where the model or the memory "
                  "allow less)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--weights", o.weights, "Decoder weights: " + WeightPrecisionChoices());
  cmd->add_flag(
      "--mmap", o.mmap,
      "Read the decoder's weights (stored, or q8/q4 from the weight cache) through the file "
      "mapping instead of copying them into memory at load (faster load, slower decode)");
  cmd->add_option("--vision-weights", o.vision_weights,
                  "Vision tower weights: " + WeightPrecisionChoices());
  AddNoWeightCacheFlag(cmd, o.no_weight_cache);
}

void AddNoWeightCacheFlag(CLI::App* cmd, bool& off) {
  cmd->add_flag("--no-weight-cache", off,
                "Quantize q8/q4 weights at this load without reading or writing the weight cache "
                "($QWENVL_WEIGHT_CACHE: its folder, or off; default "
                "$XDG_CACHE_HOME/qwenvl/weights or ~/.cache/qwenvl/weights)");
}

void AddGenerationOptions(CLI::App* cmd, GenerationOptions& o) {
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Most new tokens");
  cmd->add_option("--temperature,--temp", o.temperature,
                  "Sampling temperature (0: greedy; default: the model's generation_config.json)");
  cmd->add_option("--top-k", o.top_k, "Keep the k most likely tokens");
  cmd->add_option("--top-p", o.top_p, "Keep the smallest set with this probability mass");
  cmd->add_option("--min-p", o.min_p, "Drop tokens below this fraction of the top probability");
  cmd->add_option("--repetition-penalty", o.repetition_penalty,
                  "Penalty on tokens already present (transformers semantics)");
  cmd->add_option("--seed", o.seed, "Seed for reproducible sampling");
  cmd->add_option("--stop", o.stop, "Stop string (repeatable)")->default_str("");
  auto* schema = cmd->add_option("--json-schema", o.json_schema_file,
                                 "Answer JSON valid under this JSON Schema file");
  auto* grammar =
      cmd->add_option("--grammar", o.grammar_file, "Answer in the language of this GBNF file");
  auto* json = cmd->add_flag("--json-object", o.json, "Answer a JSON object");
  auto* grounding = cmd->add_flag(
      "--grounding", o.grounding,
      "Answer in Qwen2.5-VL's grounding JSON: [{\"bbox_2d\": [x1, y1, x2, y2], \"label\": ...}]");
  schema->excludes(grammar)->excludes(json)->excludes(grounding);
  grammar->excludes(json)->excludes(grounding);
  json->excludes(grounding);
}

OutputConstraint GenerationOptions::ToConstraint() const {
  OutputConstraint c;
  const auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::kNotFound, "cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  if (!json_schema_file.empty()) {
    c.kind = OutputConstraint::Kind::kJsonSchema;
    c.text = read(json_schema_file);
  } else if (!grammar_file.empty()) {
    c.kind = OutputConstraint::Kind::kGrammar;
    c.text = read(grammar_file);
  } else if (json) {
    c.kind = OutputConstraint::Kind::kJsonObject;
  } else if (grounding) {
    c.kind = OutputConstraint::Kind::kGrounding;
  }
  return c;
}

void AddMediaBudgetOptions(CLI::App* cmd, MediaBudgetOptions& o) {
  cmd->add_option("--min-pixels", o.min_pixels, "Smallest resized area of each picture");
  cmd->add_option("--max-pixels", o.max_pixels, "Largest resized area of each picture");
  cmd->add_option("--fps", o.fps, "Video sampling rate (frames per second, default 2)");
  cmd->add_option("--max-frames", o.max_frames, "Most frames sampled from each video (default 768)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--total-pixels", o.total_pixels,
                  "Pixels of all the sampled frames of a video together (default 90316800)")
      ->check(CLI::PositiveNumber);
  // Unset budgets are lowered when the request would not fit the context (said on stderr); set
  // ones are kept, or the request is refused naming the flag.
}

std::string ReadBounded(std::FILE* in, size_t max_bytes) {
  std::string out;
  char buf[65536];
  while (out.size() <= max_bytes) {
    const size_t want = std::min(sizeof buf, max_bytes + 1 - out.size());
    const size_t n = std::fread(buf, 1, want, in);
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

std::string ResolvePrompt(const std::string& prompt_option, const std::string& file_option) {
  const bool from_stdin = prompt_option == "-";
  if (!prompt_option.empty() && !file_option.empty())
    throw Error(ErrorCode::kInvalidArgument, "give the prompt with -p or -f, not both");
  if (prompt_option.empty() && file_option.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "no prompt: give it with -p TEXT, -p - (read from standard input) or -f FILE");
  if (!from_stdin && file_option.empty()) return prompt_option;
  const std::string source = from_stdin ? std::string("standard input") : file_option;
  std::string text;
  if (from_stdin) {
    text = ReadBounded(stdin, kMaxPromptFileBytes);
  } else {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(file_option, ec))
      throw Error(ErrorCode::kInvalidArgument, "-f " + source + ": is a folder, not a file");
    std::FILE* f = std::fopen(file_option.c_str(), "rb");
    if (f == nullptr)
      throw Error(ErrorCode::kNotFound,
                  "-f " + source + ": cannot read the prompt file (" + std::strerror(errno) + ")");
    text = ReadBounded(f, kMaxPromptFileBytes);
    std::fclose(f);
  }
  if (text.size() > kMaxPromptFileBytes)
    throw Error(ErrorCode::kOutOfRange, "the prompt from " + source + " is larger than " +
                                            std::to_string(kMaxPromptFileBytes >> 20) + " MiB");
  if (!text::IsValidUtf8(text))
    throw Error(ErrorCode::kInvalidArgument, "the prompt from " + source + " is not UTF-8 text");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty())
    throw Error(ErrorCode::kInvalidArgument, "the prompt from " + source + " is empty");
  return text;
}

Media MediaFromPath(Media::Kind kind, const std::string& path) {
  Media m;
  m.kind = kind;
  namespace fs = std::filesystem;
  if (kind == Media::Kind::kVideo && fs::is_directory(path)) {
    // A folder of frames, in name order.
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) m.frame_paths.push_back(e.path().string());
    std::sort(m.frame_paths.begin(), m.frame_paths.end());
    if (m.frame_paths.empty())
      throw Error(ErrorCode::kInvalidArgument, path + ": the frame folder holds no files");
    return m;
  }
  if (!fs::exists(path)) throw Error(ErrorCode::kNotFound, path + ": no such file");
  m.path = path;
  return m;
}

}  // namespace qwenvl::cli
