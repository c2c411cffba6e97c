// POST /v1/chat/completions request bodies (OpenAI format, with the multimodal parts of vLLM,
// LMDeploy and qwen-vl-utils) turned into a qwenvl::Request. Every malformed body becomes an
// ApiError with the HTTP status and the offending field; nothing here runs the model.
//
// Content parts accepted in a message's "content" list:
//   {"type": "text", "text": "..."}
//   {"type": "image_url", "image_url": {"url": "data:image/png;base64,..." | "file:///..." |
//   "http://..."}}
//   {"type": "image", "image": "<url>"}                         (qwen-vl-utils)
//   {"type": "video_url", "video_url": {"url": "<url>"}}         (vLLM)
//   {"type": "video", "video": "<url>" | ["<frame url>", ...]}   (qwen-vl-utils: a list is frames)
// Preprocessing keys (min_pixels, max_pixels, resized_height, resized_width, fps, nframes,
// min_frames, max_frames, total_pixels) may sit on the part or inside its image_url/video_url.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"
#include "server/media_source.h"

namespace qwenvl::server {

struct SchemaOptions {
  std::string model_name;  // the name the server reports (answers' "model" when none was asked)
  // The "model" values accepted (absent and empty always are); empty: any name (one model).
  std::vector<std::string> served_names;
  int max_choices = 16;  // engine requests one HTTP request may make (n, times prompts)
  int64_t context_length = 32768;
  int max_media_items = 16;                      // pictures and videos per request
  int64_t max_image_pixels = 16384LL * 28 * 28;  // largest max_pixels / resized area accepted
  MediaPolicy media;
};

struct ChatRequest {
  Request request;  // one choice's; the n choices differ in their seeds (seed, seed + 1, ...)
  std::string model;
  int n = 1;
  bool stream = false;
  bool include_usage = false;             // stream_options.include_usage
  bool tool_calls = false;                // tools offered: answers are searched for calls
  std::shared_ptr<TempFiles> temp_files;  // keeps written frame files alive while the request runs
  // Per media item in prompt order: each budget key it set -> the JSON field it was read from, so
  // that an engine refusal naming "media[K].total_pixels" names the client's own field.
  std::vector<std::map<std::string, std::string>> media_fields;
};

// Throws ApiError: 400 for malformed JSON, wrong types and out-of-range values, 404 for an unknown
// model. The fields shared with /v1/completions are those of generation_schema.h; chat's own are
// messages, logprobs (bool) and top_logprobs (0..20, with logprobs only).
ChatRequest ParseChatRequest(std::string_view body, const SchemaOptions& options);

}  // namespace qwenvl::server
