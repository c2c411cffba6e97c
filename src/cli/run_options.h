// Options shared by `qwenvl run` and `qwenvl chat`: the model, threads, context, sampling and
// pixel budgets, registered once on each subcommand.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::cli {

struct ModelOptions {
  std::string model_dir;
  int threads = 0;
  std::string backend = "cpu";
  std::string kernels = "auto";
  int64_t context = 0;                  // 0: the engine's default (EngineOptions::context_length)
  std::string weights = "bf16";         // bf16 (as stored) | q8 | q4, decoder
  std::string vision_weights = "bf16";  // same, vision tower
  bool mmap = false;                    // read the decoder through the file mapping
  bool no_weight_cache = false;         // quantize at every load, cache nothing
  std::string kv_type;                  // f32 | bf16 | q8; empty: as ResolvedKvType decides
  EngineOptions ToEngineOptions() const;
};

struct GenerationOptions {
  int64_t max_tokens = 512;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  // At most one constraint: a JSON Schema file, a GBNF grammar file, or the grounding format.
  std::string json_schema_file, grammar_file;
  bool json = false;  // --json-object
  bool grounding = false;
  SamplingParams ToSamplingParams() const;
  // Reads the files; throws Error(kNotFound / kInvalidArgument).
  OutputConstraint ToConstraint() const;
};

struct MediaBudgetOptions {
  std::optional<int64_t> min_pixels, max_pixels;
  std::optional<double> fps;
  std::optional<int64_t> max_frames, total_pixels;  // videos
  void ApplyTo(Media& m) const;
};

void AddModelOptions(CLI::App* cmd, ModelOptions& o);
// --kernels SPEC, shared by the commands that compute (run, chat, serve, bench, replay).
void AddKernelsOption(CLI::App* cmd, std::string& spec);
// --no-weight-cache (EngineOptions::weight_cache = "off").
void AddNoWeightCacheFlag(CLI::App* cmd, bool& off);
// --kv-type f32|bf16|q8 (run, chat, serve, bench, replay); name stays empty when not given.
// default_text says what an absent flag means for the command.
void AddKvTypeOption(CLI::App* cmd, std::string& name, const std::string& default_text);
// The KV-cache type of a command: name when given, else what the engine chooses for kernels.
KvType KvTypeFor(const std::string& name, const std::string& kernels);
void AddGenerationOptions(CLI::App* cmd, GenerationOptions& o);
void AddMediaBudgetOptions(CLI::App* cmd, MediaBudgetOptions& o);

// The most bytes a prompt read from a file or standard input may hold (-f FILE, -p -): far more
// than any context holds as text (4 MiB is about a million tokens), small enough to read at once.
inline constexpr size_t kMaxPromptFileBytes = size_t{4} << 20;

// The prompt of -p TEXT, -p - (standard input) or -f FILE (one of them, not both), without the
// trailing line breaks of a file. Throws Error naming the source: neither or both given, an
// unreadable file or a folder, more than kMaxPromptFileBytes, text that is not UTF-8, empty text.
std::string ResolvePrompt(const std::string& prompt_option, const std::string& file_option);
// Reads at most max_bytes + 1 bytes of `in` (the one more tells that the source is too large).
std::string ReadBounded(std::FILE* in, size_t max_bytes);

// A media item for a path: a folder or a list of images makes a video from frames.
Media MediaFromPath(Media::Kind kind, const std::string& path);

}  // namespace qwenvl::cli
