// What `qwenvl chat` makes of a typed line, as pure functions (no terminal, no files, no engine):
// the slash commands, the paths given to /image and /video (quoted, backslash-escaped, `~`), the
// `"""` multi-line messages and the /set sampling options. Every input is bounded: a line or a
// message over its limit, too many paths, a NUL byte give an error message, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "qwenvl/engine.h"

namespace qwenvl::cli::chat {

enum class CommandKind {
  kMessage,  // not a command: a message for the model
  kHelp,     // /help, /?
  kImage,    // /image PATH...
  kVideo,    // /video PATH
  kSystem,   // /system [TEXT]
  kSet,      // /set [NAME VALUE]
  kSave,     // /save FILE
  kLoad,     // /load FILE
  kReset,    // /reset, /clear
  kQuit,     // /quit, /bye, /exit
  kUnknown,  // starts with '/' and names no command (it may still be a path: see the session)
};

struct Command {
  CommandKind kind = CommandKind::kMessage;
  std::string name;      // the first word, "/image"
  std::string argument;  // the rest, trimmed
};

// Leading and trailing blanks (space, tab, CR, LF) removed.
std::string_view Trim(std::string_view s);

Command ParseCommand(std::string_view line);

// The paths in `text`, split at unquoted blanks: '...' keeps everything literally, "..." keeps
// everything but \" and \\ (escapes), a backslash outside quotes escapes the next character (a
// terminal writes a dragged-in "my photo.png" as my\ photo.png), and a word starting with `~` or
// `~/` starts with `home` instead (`~user` is not expanded). Errors: an unterminated quote, a NUL
// byte, an empty path, a path over 4096 bytes, more than `max_paths` paths, no path at all.
struct PathList {
  std::vector<std::string> paths;
  std::string error;  // empty on success
};
PathList ParsePaths(std::string_view text, std::string_view home, size_t max_paths = 16);

// True when `path` names a picture by its extension (png, jpg, jpeg, webp, gif, bmp; any case):
// a message that is only such paths is attached instead of sent.
bool HasImageExtension(std::string_view path);

// Multi-line messages as ollama reads them: a line starting with `"""` opens one (the rest of the
// line is its first line), a line ending with `"""` closes it (what comes before is its last
// line); `"""text"""` is a one-line message. Lines in between are kept as typed, commands
// included. Any other line is a message of its own. A message over kMaxBytes is dropped whole:
// its lines are skipped up to the closing quotes, which report kTooLong.
class MultilineReader {
 public:
  static constexpr size_t kMaxBytes = size_t{1} << 20;  // a message's limit
  enum class Status { kMessage, kMore, kTooLong };
  struct Outcome {
    Status status = Status::kMore;
    std::string text;     // kMessage: the message
    bool quoted = false;  // kMessage from `"""`: text for the model, never a command
  };
  Outcome Feed(std::string_view line);
  bool open() const { return open_; }
  void Clear();

 private:
  bool open_ = false;
  bool too_long_ = false;  // over kMaxBytes: skipping to the closing quotes
  std::string text_;
};

// `/set NAME VALUE` (or ollama's `/set parameter NAME VALUE`): temperature, top_p, top_k, min_p,
// max_tokens, seed, repetition_penalty; the VALUE `default` puts back the one in `defaults` (the
// command line's, or unset: the model's generation_config.json decides). Returns "" on success,
// else what is wrong; `s` is unchanged then. max_tokens must lie in [1, max_tokens_limit].
std::string ApplySetting(std::string_view argument, const SamplingParams& defaults,
                         SamplingParams& s, int64_t max_tokens_limit);
// The settings, one per line, for `/set` alone.
std::string DescribeSettings(const SamplingParams& s);

}  // namespace qwenvl::cli::chat
