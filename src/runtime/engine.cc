// Engine: loading a model folder and carrying out requests (synchronous, per session, or submitted
// to the scheduler).
#include "qwenvl/engine.h"

#include <chrono>
#include <filesystem>
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

namespace {
std::string ModelName(const std::string& model_dir) {
  std::string name = std::filesystem::path(model_dir).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(model_dir).parent_path().filename().string();
  return name;
}
}  // namespace

Engine::Impl::Impl(const EngineOptions& options)
    : options(options),
      model_name(ModelName(options.model_dir)),
      context(options),
      scheduler(context, caches,
                runtime::SchedulerOptions{.max_parallel = options.max_parallel,
                                          .max_queued = options.max_queued,
                                          .prefill_chunk_tokens = options.prefill_chunk_tokens}) {}

Engine::Engine() = default;
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::Load(const EngineOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  EngineOptions resolved = options;
  resolved.context_length = runtime::ResolveContextLength(
      options.context_length, io::LoadModelConfig(options.model_dir).text, PhysicalMemoryBytes());
  std::unique_ptr<Engine> engine(new Engine());
  engine->impl_ = std::make_unique<Impl>(resolved);
  engine->impl_->load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return engine;
}

const EngineOptions& Engine::options() const { return impl_->options; }
std::string Engine::model_name() const { return impl_->model_name; }
double Engine::load_seconds() const { return impl_->load_seconds; }

void Engine::ClearCaches() { impl_->caches.Clear(); }
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
  runtime::RequestRun run(e.context, e.caches, std::move(request), on_text);
  run.Prepare();
  std::lock_guard<std::recursive_mutex> lock(e.context.compute_mu);
  run.Prefill(state);
  try {
    while (!run.done()) run.Step();
  } catch (...) {
    state.Reset();
    throw;
  }
  Result result = run.TakeResult();
  result.plan = plan;
  return result;
}
}  // namespace

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
