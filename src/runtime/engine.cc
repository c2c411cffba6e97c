// Engine: loading a model folder and carrying out requests (synchronous, per session, or submitted
// to the scheduler).
#include "qwenvl/engine.h"

#include <chrono>
#include <filesystem>

#include "compute/backends.h"
#include "runtime/engine_impl.h"
#include "runtime/generation.h"
#include "runtime/prompt.h"
#include "runtime/scheduler.h"
#include "util/error.h"

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

std::shared_ptr<const runtime::PreparedMedia> Engine::Impl::GetMedia(const Media& m) {
  const std::string key = runtime::MediaKey(m, media_settings);
  {
    std::lock_guard<std::mutex> lock(media_cache_mu);
    if (const auto* hit = media_cache.Find(key)) return *hit;
  }
  auto prepared =
      std::make_shared<runtime::PreparedMedia>(runtime::PrepareMedia(m, media_settings));
  std::lock_guard<std::mutex> lock(media_cache_mu);
  media_cache.Put(key, prepared);
  return prepared;
}

void SequenceState::Truncate(int64_t n) {
  if (n == 0) return Reset();
  if (n == static_cast<int64_t>(ids.size())) return;
  sequence.Truncate(n, max_pos[n - 1] + 1 - n);
  ids.resize(n);
  max_pos.resize(n);
  while (!media_ranges.empty() && media_ranges.back().second > n) {
    media_ranges.pop_back();
    media_keys.pop_back();
  }
}

std::shared_ptr<const std::vector<float>> Engine::Impl::GetVisionFeatures(
    const runtime::PreparedMedia& m, bool* hit, const std::function<void()>& between_blocks) {
  if (const auto* cached = vision_cache.Find(m.key)) {
    *hit = true;
    return *cached;
  }
  *hit = false;
  const model::GridThw grid = m.grid;
  auto features = std::make_shared<const std::vector<float>>(
      model->vision().Encode(m.patches.values, std::span(&grid, 1), nullptr, between_blocks));
  vision_cache.Put(m.key, features);
  return features;
}

std::string Engine::Impl::Render(const Request& request) const {
  text::ChatTemplateOptions opts;
  opts.add_generation_prompt = true;
  opts.add_vision_id = request.add_vision_id;
  return chat_template->Render(runtime::TemplateMessages(request), opts);
}

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() {
  if (impl_) impl_->scheduler.reset();  // stops its thread before the model goes away
}

std::unique_ptr<Engine> Engine::Load(const EngineOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.context_length < 16)
    throw Error(ErrorCode::kInvalidArgument, "context length must be at least 16 tokens");
  std::unique_ptr<Engine> engine(new Engine());
  Impl& e = *engine->impl_;
  e.options = options;
  e.model_name = std::filesystem::path(options.model_dir).lexically_normal().filename().string();
  if (e.model_name.empty())
    e.model_name = std::filesystem::path(options.model_dir).parent_path().filename().string();
  e.pool = std::make_unique<ThreadPool>(options.threads);  // also quantizes q8/q4 weights
  e.backend = compute::MakeBackend(options.backend, *e.pool);
  e.model = std::make_unique<model::Model>(
      options.model_dir, *e.backend,
      model::ModelOptions{.text = options.text_weights,
                          .vision = options.vision_weights,
                          .resident_text = options.resident_weights});
  e.tokenizer.emplace(text::Tokenizer::FromModelDir(options.model_dir));
  e.chat_template.emplace(text::ChatTemplate::FromModelDir(options.model_dir));
  e.media_settings.preprocessor = media::LoadPreprocessorConfig(options.model_dir);
  e.media_settings.max_decoded_image_pixels = options.max_decoded_image_pixels;
  e.media_settings.max_media_pixel_bytes = options.max_media_pixel_bytes;
  e.media_settings.token_budget = options.context_length;
  e.generation =
      runtime::LoadGenerationDefaults(options.model_dir, e.model->config().eos_token_ids);
  e.media_settings.pool = e.pool.get();
  e.scheduler = std::make_unique<runtime::Scheduler>(e);
  e.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return engine;
}

const EngineOptions& Engine::options() const { return impl_->options; }
std::string Engine::model_name() const { return impl_->model_name; }
double Engine::load_seconds() const { return impl_->load_seconds; }

void Engine::ClearCaches() {
  Impl& e = *impl_;
  {
    std::lock_guard<std::mutex> lock(e.media_cache_mu);
    e.media_cache.Clear();
  }
  std::lock_guard<std::recursive_mutex> lock(e.compute_mu);
  e.vision_cache.Clear();
}
std::string Engine::RenderPrompt(const Request& request) const { return impl_->Render(request); }

namespace {
// The request's media planned from their headers and checked against the context and the pixel
// cap before any is decoded (Generation::Prepare then decodes them one after another).
void CheckMediaBeforeDecoding(const Engine::Impl& e, const Request& request) {
  const std::vector<const Media*> media = runtime::MediaInPromptOrder(request);
  if (media.empty()) return;
  // Each item's one placeholder in the rendered prompt becomes its vision tokens.
  const auto text_tokens = static_cast<int64_t>(e.tokenizer->Encode(e.Render(request)).size()) -
                           static_cast<int64_t>(media.size());
  runtime::CheckRequestMedia(media, text_tokens, e.media_settings);
}

// The handle of a request refused before it was queued.
struct RefusedRequest : RequestHandle {
  void Cancel() override {}
};

Result RunOn(Engine::Impl& e, SequenceState& state, const Request& request,
             const StreamCallback& on_text) {
  CheckMediaBeforeDecoding(e, request);
  runtime::Generation g(e, request, on_text);
  g.Prepare();
  std::lock_guard<std::recursive_mutex> lock(e.compute_mu);
  g.Prefill(state);
  try {
    while (!g.done()) g.Step();
  } catch (...) {
    state.Reset();
    throw;
  }
  return g.TakeResult();
}
}  // namespace

Result Engine::Generate(const Request& request, const StreamCallback& on_text) {
  SequenceState state(*impl_->model, impl_->options.context_length);
  return RunOn(*impl_, state, request, on_text);
}

struct Session::State {
  SequenceState sequence;
};

Session::Session(Engine& engine)
    : engine_(engine),
      state_(std::make_unique<State>(
          State{SequenceState(*engine.impl_->model, engine.impl_->options.context_length)})) {}
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
  try {
    CheckMediaBeforeDecoding(*impl_, request);
  } catch (const Error& e) {
    if (on_done) on_done(nullptr, &e);
    return std::make_shared<RefusedRequest>();
  }
  return impl_->scheduler->Submit(std::move(request), std::move(on_text), std::move(on_done));
}

}  // namespace qwenvl
