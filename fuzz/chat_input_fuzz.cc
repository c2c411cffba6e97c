// Fuzzes what `qwenvl chat` makes of typed lines and of a saved conversation: the first byte picks
// the parser (a command line, a path list, multi-line input, /set, a /load file), the rest is the
// input. Any outcome but a result or qwenvl::Error (a crash, a sanitizer report, another
// exception, a hang) is a bug. A conversation that loads must save and load back unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cli/chat_commands.h"
#include "cli/chat_transcript.h"
#include "qwenvl/error.h"

using namespace qwenvl::cli::chat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      const Command c = ParseCommand(text);
      if (c.kind != CommandKind::kMessage && (c.name.empty() || c.name[0] != '/')) std::abort();
      break;
    }
    case 1: {
      const PathList l = ParsePaths(text, "/home/user", 8);
      if (l.error.empty() == l.paths.empty() || l.paths.size() > 8) std::abort();
      for (const std::string& p : l.paths)
        if (p.empty() || p.size() > 4096 || p.find('\0') != std::string::npos) std::abort();
      break;
    }
    case 2: {
      MultilineReader r;
      size_t start = 0;
      while (start <= text.size()) {
        const size_t nl = std::min(text.find('\n', start), text.size());
        const auto out = r.Feed(text.substr(start, nl - start));
        if (out.text.size() > MultilineReader::kMaxBytes) std::abort();
        start = nl + 1;
      }
      break;
    }
    case 3: {
      const qwenvl::SamplingParams defaults;
      qwenvl::SamplingParams s;
      if (ApplySetting(text, defaults, s, 32768).empty() == false &&
          s.max_new_tokens != defaults.max_new_tokens)
        std::abort();  // a refused setting changed something
      (void)DescribeSettings(s);
      break;
    }
    default:
      try {
        const Transcript t = TranscriptFromJson(text);
        const Transcript back = TranscriptFromJson(TranscriptToJson(t));
        if (back.turns.size() != t.turns.size() || back.system != t.system) std::abort();
        for (size_t i = 0; i < t.turns.size(); ++i)
          if (back.turns[i].text != t.turns[i].text || back.turns[i].role != t.turns[i].role ||
              back.turns[i].media.size() != t.turns[i].media.size())
            std::abort();
      } catch (const qwenvl::Error&) {
      }
  }
  return 0;
}
