// A `qwenvl chat` conversation as a JSON file (/save and /load): the system prompt and the
// messages, pictures and videos by path (not their bytes), so a saved conversation stays small and
// readable:
//   {"format": "qwenvl-chat", "version": 1, "system": "...",
//    "messages": [{"role": "user", "content": "...", "images": ["/abs/a.png"], "videos": []},
//                 {"role": "assistant", "content": "..."}]}
// Reading validates everything and names the first problem (where and what); no input crashes it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::cli::chat {

struct Attachment {
  Media::Kind kind = Media::Kind::kImage;
  std::string path;  // absolute, as attached
};

struct Turn {
  std::string role;  // "user" or "assistant"
  std::string text;
  std::vector<Attachment> media;  // user turns only; before the text in the prompt
};

struct Transcript {
  std::optional<std::string> system;
  std::vector<Turn> turns;
};

inline constexpr size_t kMaxTranscriptBytes = size_t{64} << 20;
inline constexpr size_t kMaxTranscriptTurns = 100000;
inline constexpr size_t kMaxMediaPerTurn = 64;

std::string TranscriptToJson(const Transcript& t);
// Throws Error(kCorruptFile) naming the place of the problem (e.g. "messages[3].images[0]").
Transcript TranscriptFromJson(std::string_view text);

}  // namespace qwenvl::cli::chat
