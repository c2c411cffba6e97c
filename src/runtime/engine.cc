// Engine: loading a model folder and carrying out requests (synchronous, per session, or submitted
// to the scheduler).
#include "qwenvl/engine.h"

#include <chrono>
#include <filesystem>
#include <limits>
#include <optional>

#include "io/model_config.h"
#include "runtime/context_length.h"
#include "runtime/engine_impl.h"
#include "runtime/prompt.h"
#include "runtime/request_check.h"
#include "runtime/request_plan.h"
#include "runtime/request_run.h"
#include "util/error.h"
#include "util/memory.h"

namespace qwenvl {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "stop";
}

Message Message::Text(std::string role, std::string text) {
  Message m;
  m.role = std::move(role);
  m.content.push_back({ContentPart::Type::kText, std::move(text), {}});
  return m;
}

std::string Engine::FolderModelName(const std::string& model_dir) {
  std::string name = std::filesystem::path(model_dir).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(model_dir).parent_path().filename().string();
  return name;
}

Engine::Impl::Impl(const EngineOptions& options,
                   const std::function<void(int64_t, int64_t)>& on_layer_bound)
    : options(options),
      model_name(Engine::FolderModelName(options.model_dir)),
      context(options, on_layer_bound),
      scheduler(context, caches,
                runtime::SchedulerOptions{.max_parallel = options.max_parallel,
                                          .max_queued = options.max_queued,
                                          .prefill_chunk_tokens = options.prefill_chunk_tokens}) {}

Engine::Engine() = default;
Engine::~Engine() = default;

const char* ProgressPhaseName(Progress::Phase phase) {
  switch (phase) {
    case Progress::Phase::kLoad:
      return "load";
    case Progress::Phase::kVision:
      return "vision";
    case Progress::Phase::kPrefill:
      return "prefill";
  }
  return "load";
}

int64_t Engine::ContextLengthFor(const EngineOptions& options) {
  return runtime::ResolveContextLength(options.context_length,
                                       io::LoadModelConfig(options.model_dir).text,
                                       PhysicalMemoryBytes(), ResolvedKvType(options));
}

std::unique_ptr<Engine> Engine::Load(const EngineOptions& options) {
  return Load(options, nullptr);
}

std::unique_ptr<Engine> Engine::Load(const EngineOptions& options,
                                     const ProgressCallback& on_progress) {
  const auto start = std::chrono::steady_clock::now();
  EngineOptions resolved = options;
  resolved.context_length = ContextLengthFor(options);
  // Layers are reported as they are bound, all but the last: the phase ends (done == total) once
  // the rest (tokenizer, template, configs) is loaded too, with the whole load's time.
  const auto report = [&on_progress, start](int64_t done, int64_t total) {
    on_progress(Progress{.phase = Progress::Phase::kLoad,
                         .done = done,
                         .total = total,
                         .unit = "layers",
                         .elapsed_ms = std::chrono::duration<double, std::milli>(
                                           std::chrono::steady_clock::now() - start)
                                           .count()});
  };
  int64_t layers = 0;
  std::function<void(int64_t, int64_t)> on_layer_bound;
  if (on_progress)
    on_layer_bound = [&report, &layers](int64_t done, int64_t total) {
      layers = total;
      if (done < total) report(done, total);
    };
  std::unique_ptr<Engine> engine(new Engine());
  engine->impl_ = std::make_unique<Impl>(resolved, on_layer_bound);
  if (on_progress && layers > 0) report(layers, layers);
  engine->impl_->load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return engine;
}

const EngineOptions& Engine::options() const { return impl_->options; }
std::string Engine::model_name() const { return impl_->model_name; }
double Engine::load_seconds() const { return impl_->load_seconds; }

void Engine::ClearCaches() { impl_->caches.Clear(); }
EngineStats Engine::stats() const {
  const runtime::SchedulerStats s = impl_->scheduler.stats();
  const runtime::MediaCaches::VisionStats v = impl_->caches.vision_stats();
  EngineStats out;
  out.requests_waiting = s.queued;
  out.requests_running = s.active;
  out.kv_rows_used = s.kv_rows_used;
  out.kv_rows_capacity = s.kv_rows_capacity;
  out.vision_cache_entries = v.entries;
  out.vision_cache_bytes = v.bytes;
  out.vision_cache_hits_total = v.hits;
  out.vision_cache_misses_total = v.misses;
  out.prefix_cache_hit_tokens_total = s.prefix_hit_tokens;
  out.prefix_cache_media_total = s.prefix_media;
  out.prompt_tokens_total = s.prompt_tokens;
  return out;
}
std::string Engine::RenderPrompt(const Request& request) const {
  return impl_->context.Render(request);
}

std::vector<TokenId> Engine::Tokenize(std::string_view text) const {
  return impl_->context.tokenizer.Encode(text);
}

std::string Engine::Detokenize(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
  return impl_->context.tokenizer.Decode(ids, skip_special_tokens);
}

std::string Engine::TokenBytes(TokenId id) const {
  std::string bytes;
  impl_->context.tokenizer.AppendTokenBytes(id, /*skip_special_tokens=*/false, &bytes);
  return bytes;
}

int64_t Engine::vocab_size() const { return impl_->context.tokenizer.vocab_size(); }

namespace {
// The request planned before any pixel is decoded (runtime/request_plan.h): its media's headers
// read, the budgets it left unset lowered where the context needs it, the pixel cap checked. The
// request is changed in place (lowered budgets set on its media); nullopt for a request without
// media.
std::optional<RequestPlan> PlanBeforeDecoding(const runtime::ModelContext& context,
                                              Request& request) {
  const std::vector<const Media*> media = runtime::MediaInPromptOrder(request);
  if (media.empty() || request.prompt_ids) return std::nullopt;  // token prompts: CheckRequest
  // Each item's one placeholder in the rendered prompt becomes its vision tokens.
  const auto text_tokens =
      static_cast<int64_t>(context.tokenizer.Encode(context.Render(request)).size()) -
      static_cast<int64_t>(media.size());
  std::vector<runtime::MediaProbe> probes;
  probes.reserve(media.size());
  for (const Media* m : media) probes.push_back(runtime::ProbeMedia(*m, context.media_settings));
  const runtime::PlannedMedia planned = runtime::PlanRequestMedia(
      media, probes, text_tokens,
      runtime::AnswerReserve(request.sampling.max_new_tokens, context.context_length),
      context.context_length, context.media_settings.preprocessor);
  runtime::CheckMediaBudget(planned.items, text_tokens, context.media_settings);
  if (!planned.plan.changes.empty()) runtime::ApplyPlannedSettings(planned, request);
  return planned.plan;
}

// The handle of a request refused before it was queued.
struct RefusedRequest : RequestHandle {
  void Cancel() override {}
};

Result RunOn(Engine::Impl& e, runtime::SequenceState& state, const Request& given,
             const StreamCallback& on_text) {
  runtime::CheckRequest(e.context, given);
  // The run owns a copy of the request (media bytes included): it holds nothing of the caller's.
  Request request = given;
  const std::optional<RequestPlan> plan = PlanBeforeDecoding(e.context, request);
  const bool in_pieces = request.on_progress || request.cancel;
  runtime::RequestRun run(e.context, e.caches, std::move(request), on_text);
  run.WatchCancel();
  try {
    run.Prepare();
    std::lock_guard<std::recursive_mutex> lock(e.context.compute_mu);
    // With a progress callback or a cancel flag the prompt goes in pieces of the size the decoder
    // computes at once anyway (the same work), each reported and each a point to stop at.
    run.Prefill(
        state, in_pieces ? model::AppendOptions{}.chunk_rows : std::numeric_limits<int64_t>::max());
    try {
      while (!run.done()) run.Step();
    } catch (...) {
      state.Reset();
      throw;
    }
  } catch (const runtime::RunCancelled&) {
    run.AbandonPrefill();  // a state holding part of the prompt starts afresh
  }
  Result result = run.TakeResult();
  result.plan = plan;
  return result;
}
}  // namespace

std::vector<MediaInfo> Engine::PlanMedia(const Request& given) const {
  std::vector<MediaInfo> out;
  if (given.prompt_ids) return out;  // a token prompt has no media
  Request request = given;
  try {
    PlanBeforeDecoding(impl_->context, request);  // the budgets a run would use
  } catch (const Error&) {
    request = given;  // the run says what does not fit; the plan shows the media as asked
  }
  for (const Media* m : runtime::MediaInPromptOrder(request)) {
    const runtime::MediaPlan plan = runtime::PlanMedia(*m, impl_->context.media_settings);
    MediaInfo info;
    info.kind = plan.kind;
    info.original_width = static_cast<int>(plan.width);
    info.original_height = static_cast<int>(plan.height);
    info.resized_width = static_cast<int>(plan.resized_width);
    info.resized_height = static_cast<int>(plan.resized_height);
    info.tokens = plan.tokens;
    out.push_back(std::move(info));
  }
  return out;
}

Result Engine::Generate(const Request& request, const StreamCallback& on_text) {
  runtime::SequenceState state(*impl_->context.model, impl_->context.context_length);
  return RunOn(*impl_, state, request, on_text);
}

struct Session::State {
  runtime::SequenceState sequence;
};

Session::Session(Engine& engine)
    : engine_(engine),
      state_(std::make_unique<State>(State{runtime::SequenceState(
          *engine.impl_->context.model, engine.impl_->context.context_length)})) {}
Session::~Session() = default;

Result Session::Generate(const Request& request, const StreamCallback& on_text) {
  return RunOn(*engine_.impl_, state_->sequence, request, on_text);
}

void Session::Reset() { state_->sequence.Reset(); }

std::unique_ptr<Session> Engine::NewSession() {
  return std::unique_ptr<Session>(new Session(*this));
}

std::shared_ptr<RequestHandle> Engine::Submit(Request request, StreamCallback on_text,
                                              DoneCallback on_done) {
  std::optional<RequestPlan> plan;
  try {
    runtime::CheckRequest(impl_->context, request);
    plan = PlanBeforeDecoding(impl_->context, request);
  } catch (const Error& e) {
    if (on_done) on_done(nullptr, &e);
    return std::make_shared<RefusedRequest>();
  }
  if (plan && on_done) {
    // The plan is the engine's, not the run's: added to the result on its way out.
    on_done = [plan = *plan, done = std::move(on_done)](const Result* result, const Error* error) {
      if (result == nullptr) return done(result, error);
      Result planned = *result;
      planned.plan = plan;
      done(&planned, error);
    };
  }
  return impl_->scheduler.Submit(std::move(request), std::move(on_text), std::move(on_done));
}

}  // namespace qwenvl
