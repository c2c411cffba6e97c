#include "runtime/request_check.h"

#include <algorithm>
#include <string>

#include "runtime/prompt.h"
#include "util/error.h"

namespace qwenvl::runtime {

namespace {

void CheckTokenPrompt(const ModelContext& context, const Request& request) {
  const std::vector<TokenId>& ids = *request.prompt_ids;
  if (ids.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "prompt_ids is empty: a token prompt needs at least one token");
  const size_t media = MediaInPromptOrder(request).size();
  if (media > 0)
    throw Error(ErrorCode::kInvalidArgument,
                "prompt_ids: a token prompt takes no media, but the messages hold " +
                    std::to_string(media) + " picture(s) or video(s)");
  const io::ModelConfig& config = context.model->config();
  // Ids the tokenizer knows and the model embeds: the embedding table has padding rows past the
  // tokenizer's vocabulary, and the vocabulary may have unused ids.
  const int64_t vocab =
      std::min(context.tokenizer.vocab_size(), context.model->decoder().vocab_size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const TokenId id = ids[i];
    const std::string where = "prompt_ids[" + std::to_string(i) + "] = " + std::to_string(id);
    if (id < 0 || id >= vocab || context.tokenizer.IdToToken(id).empty())
      throw Error(ErrorCode::kInvalidArgument,
                  where + " is not a token of the model's vocabulary (ids 0 to " +
                      std::to_string(vocab - 1) + ")");
    if (id == config.image_token_id || id == config.video_token_id)
      throw Error(ErrorCode::kInvalidArgument,
                  where + " is a vision pad (" + context.tokenizer.IdToToken(id) +
                      "): a token prompt carries no pictures or videos");
  }
}

}  // namespace

void CheckRequest(const ModelContext& context, const Request& request) {
  const int logprobs = request.sampling.logprobs;
  if (logprobs < -1 || logprobs > kMaxLogprobs)
    throw Error(ErrorCode::kInvalidArgument,
                "logprobs must be -1 (none) or 0 to " + std::to_string(kMaxLogprobs) +
                    " (alternatives per token), got " + std::to_string(logprobs));
  if (request.prompt_ids) CheckTokenPrompt(context, request);
}

}  // namespace qwenvl::runtime
