#include "runtime/model_context.h"

#include "compute/backends.h"
#include "media/preprocessor_config.h"
#include "runtime/model_weight_cache.h"
#include "runtime/prompt.h"

namespace qwenvl {

KvType ResolvedKvType(const EngineOptions& options) {
  if (options.kv_type) return *options.kv_type;
  return options.kernels == "f32" ? KvType::kF32 : KvType::kBf16;
}

}  // namespace qwenvl

namespace qwenvl::runtime {

namespace {

MediaSettings LoadMediaSettings(const EngineOptions& options, ThreadPool& pool,
                                const model::VisionEncoder& encoder) {
  MediaSettings s;
  s.preprocessor = media::LoadPreprocessorConfig(options.model_dir);
  s.max_decoded_image_pixels = options.max_decoded_image_pixels;
  s.max_media_pixel_bytes = options.max_media_pixel_bytes;
  s.token_budget = options.context_length;
  s.pool = &pool;
  s.video_encoder = &encoder;
  return s;
}

}  // namespace

ModelContext::ModelContext(const EngineOptions& options,
                           const std::function<void(int64_t, int64_t)>& on_layer_bound)
    : context_length(options.context_length),
      pool(std::make_unique<ThreadPool>(options.threads)),  // also quantizes q8/q4 weights
      backend(compute::MakeBackend(options.backend, *pool,
                                   {.spec = options.kernels, .cache_path = ""})),
      weight_cache(MakeModelWeightCache(options.model_dir, options.weight_cache,
                                        options.text_weights, options.vision_weights)),
      model(std::make_unique<model::Model>(
          options.model_dir, *backend,
          model::ModelOptions{.text = options.text_weights,
                              .vision = options.vision_weights,
                              .resident_text = options.resident_weights,
                              .weight_cache = weight_cache.get(),
                              .kv = ResolvedKvType(options),
                              .on_layer_bound = on_layer_bound})),
      tokenizer(text::Tokenizer::FromModelDir(options.model_dir)),
      chat_template(text::ChatTemplate::FromModelDir(options.model_dir)),
      media_settings(LoadMediaSettings(options, *pool, model->vision())),
      generation_defaults(LoadGenerationDefaults(options.model_dir, model->config().eos_token_ids)),
      constraints(tokenizer, model->config().text.vocab_size, generation_defaults.eos_token_ids) {}

std::string ModelContext::Render(const Request& request) const {
  text::ChatTemplateOptions opts;
  opts.add_generation_prompt = true;
  opts.add_vision_id = request.add_vision_id;
  return chat_template.Render(TemplateMessages(request), opts);
}

}  // namespace qwenvl::runtime
