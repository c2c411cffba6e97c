// qwenvl public C++ API: load a Qwen2.5-VL model folder, submit requests made of chat messages with
// images and videos, receive the answer token by token, cancel. The command line and the server are
// built on this API alone.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/error.h"
#include "qwenvl/kv_type.h"
#include "qwenvl/token_id.h"
#include "qwenvl/weight_format.h"

namespace qwenvl {

// Work done so far in one of the long phases, for a progress display. Reported by the runtime as
// the work completes: after each layer bound at load, each vision encoder block (over all the
// media a request encodes now; media from the engine's cache count for nothing), and each piece of
// prompt prefilled. The last report of a phase has done == total.
struct Progress {
  enum class Phase { kLoad, kVision, kPrefill };
  Phase phase = Phase::kLoad;
  int64_t done = 0;
  int64_t total = 0;
  const char* unit = "";  // "layers", "blocks", "tokens"
  double elapsed_ms = 0;  // since the phase began
};
const char* ProgressPhaseName(Progress::Phase phase);  // "load", "vision", "prefill"
// Called on the thread doing the work (the caller's for Load and Generate, the scheduler's for
// Submit), between two pieces of it: it must return quickly.
using ProgressCallback = std::function<void(const Progress&)>;

struct EngineOptions {
  std::string model_dir;
  int threads = 0;  // 0: one per core
  // The compute backend every forward pass runs on: "cpu" (SIMD kernels over the threads) or
  // "reference" (plain scalar kernels on one thread, slow: for checking the fast one).
  std::string backend = "cpu";
  // MatMul kernels of the cpu backend: "auto" (the fastest for this CPU, measured once and cached
  // in the user's cache folder; $QWENVL_KERNELS overrides) or a spec such as "f32" (nothing
  // rounded) or "bf16.gemm=amx-bf16,q8=int8"; see `qwenvl bench --help`.
  std::string kernels = "auto";
  // KV-cache capacity per sequence, in tokens, at most the model's max_position_embeddings. 0:
  // 32768 where max_position_embeddings allows it, halved while one sequence's full cache (of
  // kv_type) would take more than a quarter of the machine's memory (not below 4096); options()
  // reports the length chosen. The cache grows as a sequence fills it: a long context costs memory
  // only when used.
  int64_t context_length = 0;
  // The type the KV cache stores keys and values in: bf16 (half the memory of f32 and half the
  // bytes decode attention reads, at a KL of ~1e-5), q8 (a little over a quarter), f32 (nothing
  // rounded). Unset: f32 when kernels is "f32" (the exact path), else bf16.
  std::optional<KvType> kv_type;
  WeightPrecision text_weights = WeightPrecision::kStored;
  WeightPrecision vision_weights = WeightPrecision::kStored;
  // Copy the decoder's stored-precision matrices into process memory at load (unchanged) instead
  // of reading them through the file mapping: decode streams them faster; load reads the file.
  bool resident_weights = true;
  // Where q8/q4 copies of the weights are cached, so that the next load maps them instead of
  // quantizing again: "" ($QWENVL_WEIGHT_CACHE, else $XDG_CACHE_HOME/qwenvl/weights, else
  // ~/.cache/qwenvl/weights; $QWENVL_WEIGHT_CACHE=off turns it off), "off", or a folder.
  std::string weight_cache;
  int64_t max_decoded_image_pixels = 178956970;  // refuse larger images before decoding (bombs)
  // Decoded pixels one picture or video may hold at once while it is prepared (its full-size frame
  // and its resized frames as 8-bit RGB), computed from the file headers before anything is
  // decoded; with the same headers the request's vision tokens are checked against
  // context_length. 384 MiB admits a 100-megapixel photo (300 MB decoded) with the largest resize
  // the model takes (12845056 pixels, 38.5 MB), while a few kilobytes of crafted PNG can no longer
  // make one request hold gigabytes. 0: no bound. A request refused by these checks fails before
  // any decode: Generate throws; Submit calls its DoneCallback with the Error before returning.
  int64_t max_media_pixel_bytes = int64_t{384} << 20;
  // Scheduling of Submit(): sequences decoded together, and requests allowed to wait beyond them.
  int max_parallel = 4;
  int max_queued = 64;
  // Prompt tokens a new request prefills per scheduling round: between rounds the requests already
  // decoding take a step, so a long prompt delays them by one piece at a time, not all of it.
  int64_t prefill_chunk_tokens = 128;
};

// The KV-cache type options asks for: kv_type, or when unset f32 for kernels "f32" (nothing
// rounded) and bf16 otherwise.
KvType ResolvedKvType(const EngineOptions& options);

// A picture or a video given to the model. Exactly one source is set: a file path, encoded bytes
// (any supported format), or for a video a list of frame image files.
struct Media {
  enum class Kind { kImage, kVideo };
  Kind kind = Kind::kImage;
  std::string path;
  std::vector<uint8_t> bytes;
  std::vector<std::string> frame_paths;
  // Per-item preprocessing (qwen-vl-utils keys). Unset values come from preprocessor_config.json.
  std::optional<int64_t> min_pixels, max_pixels;
  std::optional<int64_t> resized_height, resized_width;
  std::optional<double> fps;  // video sampling rate (default 2.0)
  std::optional<int64_t> nframes, min_frames, max_frames, total_pixels;
};

struct ContentPart {
  enum class Type { kText, kMedia };
  Type type = Type::kText;
  std::string text;
  Media media;
};

struct Message {
  std::string role;  // "system", "user" or "assistant"
  std::vector<ContentPart> content;
  static Message Text(std::string role, std::string text);
};

// Unset values come from the model folder's generation_config.json.
struct SamplingParams {
  std::optional<float> temperature;  // 0 or 1e-6-like values: greedy
  std::optional<int> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;  // transformers semantics, prompt tokens included
  float presence_penalty = 0.0f;            // OpenAI semantics, over generated tokens
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;
  int64_t max_new_tokens = 512;
  std::vector<std::string> stop;  // stop strings (not included in the answer)
  // Log-probabilities of the chosen tokens (Result::logprobs, Request::on_token), each with this
  // many of the most likely alternatives (0 to 20); -1: none; else Error(kInvalidArgument). Taken
  // from the distribution the token was drawn from: after penalties, temperature, top-k/top-p/
  // min-p and the constraint, renormalised over the tokens kept (those left out have probability 0
  // and are not listed, so fewer alternatives come back when fewer were kept). A greedy choice
  // (temperature 0, top_k 1) is drawn from no distribution (its own would be certainty): it
  // reports the softmax of the penalised (and constrained) logits at temperature 1, and its token
  // is the first alternative. vLLM by default reports the raw model distribution for every token
  // (before penalties, temperature and filters): without penalties, greedy logprobs agree with it.
  int logprobs = -1;
};

// One chosen token and how likely it was.
struct TokenLogprob {
  TokenId token = -1;
  std::string text;  // the token's bytes (a piece of a UTF-8 character is possible)
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;  // the most likely tokens, most likely first (no nested top)
};

// Constrains the answer to a formal language: every token sampled keeps the answer a prefix of a
// sentence of the language, and the answer ends (end of turn) only where a sentence is complete.
// The text is compiled when the request is prepared; a text that does not compile fails the
// request with Error(kInvalidArgument).
struct OutputConstraint {
  enum class Kind {
    kNone,
    kJsonObject,  // any JSON object (OpenAI's response_format json_object, ollama's "json")
    kJsonSchema,  // text: a JSON Schema (the subset OpenAI's structured outputs accept)
    kGrammar,     // text: a grammar in GBNF (llama.cpp's notation)
    kGrounding,   // Qwen2.5-VL grounding JSON: [{"bbox_2d": [x1, y1, x2, y2], "label": ...}, ...]
  };
  Kind kind = Kind::kNone;
  std::string text;
};

struct Request {
  std::vector<Message> messages;
  SamplingParams sampling;
  OutputConstraint constraint;
  // The model's input as token ids, used instead of the messages and the chat template (a raw
  // completion): no media. Unset: the messages are rendered through the template. With it, the
  // messages and system_prompt are not used, but media in them are refused; an empty list, an id
  // that is no token of the vocabulary, or a vision pad id: Error(kInvalidArgument).
  std::optional<std::vector<TokenId>> prompt_ids;
  // Called for each chosen token (with SamplingParams::logprobs >= 0), on the engine's thread,
  // before the text of that token is streamed; as Result::logprobs, not for the final stop token.
  std::function<void(const TokenLogprob&)> on_token;
  // Progress of the vision encoding and of the prefill (Progress), until the first token.
  ProgressCallback on_progress;
  // For Engine::Generate and Session::Generate (Submit's handle has Cancel()): when this flag
  // turns true the request stops at the next point it looks, between the encoder's blocks, video
  // slices, prompt pieces and tokens, and the result reports FinishReason::kCancelled. A session
  // whose prompt was cut short starts its next turn without the reused cache. Must outlive the
  // call; may be set from another thread or a signal handler.
  const std::atomic<bool>* cancel = nullptr;
  std::optional<std::string> system_prompt;  // convenience: prepended as a system message
  bool add_vision_id = false;
};

// How a picture was fed to the model: the model's grounding coordinates are in the resized frame.
struct MediaInfo {
  Media::Kind kind = Media::Kind::kImage;
  int original_width = 0, original_height = 0;
  int resized_width = 0, resized_height = 0;
  int64_t tokens = 0;
  std::vector<int64_t> frame_indices;  // videos: the sampled frames
  double second_per_grid_t = 0.0;
};

// A media item whose budget the engine lowered so that the request fits the context (the item set
// none of the settings changed: budgets a request sets are never changed). The item was prepared
// exactly as if the request had set the lowered values itself.
struct BudgetChange {
  size_t media = 0;  // index in Result::media (prompt order)
  Media::Kind kind = Media::Kind::kImage;
  int64_t kind_number = 1;  // 1 for the request's first picture (or video), 2 for the second...
  int64_t tokens_before = 0, tokens_after = 0;
  // The settings the engine chose, before -> after; 0 -> 0 where it left one alone. Pictures and
  // frame lists: max_pixels. Videos: total_pixels, and the frames sampled (set as max_frames).
  int64_t max_pixels_before = 0, max_pixels_after = 0;
  int64_t total_pixels_before = 0, total_pixels_after = 0;
  int64_t frames_before = 0, frames_after = 0;
  // "video 1 reduced from 114840 to 15800 tokens (total_pixels 90316800 -> 12000000, 768 -> 96
  // frames)"
  std::string Describe() const;
};

// How a request with media was fitted in the context before any pixel was decoded (planned from
// the files' headers): text tokens (the prompt with one placeholder per item), the answer's
// reserve (max_new_tokens, at most a quarter of the context), and the vision tokens.
struct RequestPlan {
  int64_t context_length = 0;
  int64_t text_tokens = 0;
  int64_t reserve_tokens = 0;
  int64_t media_tokens_requested = 0;  // at the budgets the request gave (or the defaults)
  int64_t media_tokens = 0;            // as prepared
  std::vector<BudgetChange> changes;   // empty: nothing was lowered
};

struct Timings {
  double preprocess_ms = 0, vision_ms = 0, prefill_ms = 0, decode_ms = 0;
  double first_token_ms = 0;  // from the start of Generate to the first streamed token
};

enum class FinishReason { kStop, kLength, kCancelled };
const char* FinishReasonName(FinishReason r);  // "stop", "length", "cancelled"

struct Result {
  std::string text;
  std::vector<TokenId> tokens;      // the answer's tokens (the final stop token excluded)
  std::vector<TokenId> prompt_ids;  // the model's input, vision pads expanded
  int64_t prompt_tokens = 0;
  // Not computed for this request: reused from the KV cache of earlier turns, or copied from the
  // cache of another request with the same prefix (Submit).
  int64_t cached_prompt_tokens = 0;
  int64_t cached_media = 0;  // media whose vision encoding came from the engine's cache
  int64_t completion_tokens = 0;
  FinishReason finish_reason = FinishReason::kStop;
  Timings timings;
  std::vector<MediaInfo> media;        // all media of the conversation, in prompt order
  std::vector<TokenLogprob> logprobs;  // per answer token, with SamplingParams::logprobs >= 0
  // Requests with media (and no prompt_ids): how they were fitted in the context.
  std::optional<RequestPlan> plan;
};

// What the engine holds and has done so far, for monitoring and for load balancers that route on
// load and on caches (Engine::stats). Counters (_total) only grow; the others are gauges.
struct EngineStats {
  int64_t requests_waiting = 0;  // submitted, not yet started (in the queue)
  int64_t requests_running = 0;  // started: prefilling or decoding
  // Tokens whose keys and values the sequences' KV caches hold (running requests' and those kept
  // for follow-up turns and shared prefixes), and the most they may hold together.
  int64_t kv_rows_used = 0;
  int64_t kv_rows_capacity = 0;
  // The vision encoder's cache: entries and bytes held; lookups that found an entry (hits) and
  // pictures or videos encoded (misses).
  int64_t vision_cache_entries = 0;
  int64_t vision_cache_bytes = 0;
  int64_t vision_cache_hits_total = 0;
  int64_t vision_cache_misses_total = 0;
  // Prompt tokens not computed because a KV cache held them (a conversation's earlier turns or a
  // prefix shared with another request), and media among them: their encoding was not needed.
  int64_t prefix_cache_hit_tokens_total = 0;
  int64_t prefix_cache_media_total = 0;
  int64_t prompt_tokens_total = 0;  // prompt tokens of the requests that started decoding
};

// Called with each new piece of answer text (always whole UTF-8 characters). Return false to
// cancel.
using StreamCallback = std::function<bool(std::string_view text)>;

class Engine;

// A request submitted with Engine::Submit. Cancel() stops it at the next token (its DoneCallback
// then reports FinishReason::kCancelled).
class RequestHandle {
 public:
  virtual ~RequestHandle() = default;
  virtual void Cancel() = 0;
  // True while the request waits in the queue, before the scheduler has started it (a draining
  // server answers such requests at once instead of waiting for them).
  virtual bool queued() const { return false; }
};
// Called once when a submitted request ends: exactly one of result and error is non-null.
using DoneCallback = std::function<void(const Result* result, const Error* error)>;

// A conversation whose KV cache is kept between turns: a request that extends the previous one
// (same messages, more appended) only computes the new tokens.
class Session {
 public:
  ~Session();
  Result Generate(const Request& request, const StreamCallback& on_text = nullptr);
  void Reset();

 private:
  friend class Engine;

  struct State;
  explicit Session(Engine& engine);
  Engine& engine_;
  std::unique_ptr<State> state_;
};

class Engine {
 public:
  // Throws qwenvl::Error (include/qwenvl/error.h) naming the folder and the problem.
  static std::unique_ptr<Engine> Load(const EngineOptions& options);
  // Load, reporting Progress::Phase::kLoad after each layer of weights is in place.
  static std::unique_ptr<Engine> Load(const EngineOptions& options,
                                      const ProgressCallback& on_progress);
  ~Engine();

  // One-shot request on a fresh context.
  Result Generate(const Request& request, const StreamCallback& on_text = nullptr);
  std::unique_ptr<Session> NewSession();

  // Asynchronous submission, thread-safe: requests are scheduled together (decode steps of active
  // requests batched, prefills interleaved). Throws Error(kOutOfRange) when the queue is full.
  // Callbacks run on the engine's scheduler thread and must return quickly, except that a request
  // whose media cannot fit (checked from their headers, before any decode) gets its DoneCallback
  // with the Error on the calling thread, before Submit returns.
  std::shared_ptr<RequestHandle> Submit(Request request, StreamCallback on_text,
                                        DoneCallback on_done);

  // How the request's media will be fed to the model (sizes and vision tokens; no frame_indices),
  // planned from their headers alone, nothing decoded, after the budgets the request did not set
  // were lowered to fit the context (Result::plan); media that cannot be made to fit are shown as
  // asked (the run refuses them). Throws Error as a request would (unreadable file, too many
  // pixels).
  std::vector<MediaInfo> PlanMedia(const Request& request) const;

  // Prompt text after the chat template, before placeholder expansion (for inspection).
  std::string RenderPrompt(const Request& request) const;
  // The tokenizer of the model: special tokens written in the text (<|im_start|>) become their
  // ids. Detokenize skips unknown ids; TokenBytes is "" for one.
  std::vector<TokenId> Tokenize(std::string_view text) const;
  std::string Detokenize(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const;
  std::string TokenBytes(TokenId id) const;
  int64_t vocab_size() const;
  const EngineOptions& options() const;
  std::string model_name() const;  // the folder's base name
  // The name a model folder gets (model_name), known before it is loaded.
  static std::string FolderModelName(const std::string& model_dir);
  // The context length a load of `options` gives (options().context_length once loaded), known
  // before the load: reads the folder's config.json. Throws Error as Load does for a bad config or
  // an out-of-range length.
  static int64_t ContextLengthFor(const EngineOptions& options);
  double load_seconds() const;

  // Forgets the prepared media and vision encodings kept for later requests (their memory goes;
  // no answer changes, a repeated picture is only prepared and encoded again). Thread-safe.
  void ClearCaches();
  // A consistent-enough snapshot (each field read atomically, not all at one instant).
  // Thread-safe and cheap: meant to be read on every /metrics scrape.
  EngineStats stats() const;

  // The implementation (src/runtime/engine_impl.h, not installed): named here for the runtime's
  // own files, reachable from no public member.
  struct Impl;

 private:
  friend class Session;
  Engine();
  std::unique_ptr<Impl> impl_;
};

}  // namespace qwenvl
