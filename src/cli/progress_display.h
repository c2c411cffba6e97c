// Progress of the engine's long phases (load, vision encoding, prefill) on a terminal stream, for
// `run` and `chat`. On a terminal one line per phase is redrawn in place (done of total, percent,
// time spent and an estimate of the time left) and cleared before the answer is printed; on a
// stream that is no terminal (a log, a pipe) each phase gets one line when it ends.
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "qwenvl/engine.h"

namespace qwenvl::cli {

class ProgressDisplay {
 public:
  enum class Mode { kOff, kTerminal, kLines };
  // kOff when quiet, else kTerminal when `stream` is a terminal, else kLines.
  static Mode ModeFor(bool quiet, FILE* stream);

  explicit ProgressDisplay(Mode mode, FILE* stream = stderr) : mode_(mode), stream_(stream) {}
  ~ProgressDisplay() { Clear(); }
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  // Thread-safe: the engine calls it from the thread doing the work.
  void Update(const Progress& p);
  // Clears the terminal line, before the answer is printed (nothing to do on other streams).
  void Clear();
  // A callback for Engine::Load and Request::on_progress that updates this display (none when
  // the display is off).
  ProgressCallback Callback() {
    if (mode_ == Mode::kOff) return nullptr;
    return [this](const Progress& p) { Update(p); };
  }

  // "vision  12/32 blocks  37%  3.1 s, about 5 s left" (no estimate before the first piece).
  static std::string Line(const Progress& p);
  // "[vision: 32 blocks in 8.2 s]"
  static std::string Summary(const Progress& p);

 private:
  const Mode mode_;
  FILE* const stream_;
  std::mutex mu_;
  bool line_shown_ = false;  // a terminal line is on screen
  std::chrono::steady_clock::time_point last_draw_{};
};

// A picture or video whose vision tokens pass this many gets a warning naming --max-pixels.
inline constexpr int64_t kLargeMediaTokens = 2048;

// "warning: image 1 (2560x1440, resized to 2548x1428) costs 4641 vision tokens; --max-pixels
// 1605632 brings it under 2048" for each planned item over `threshold` tokens, else nothing.
std::optional<std::string> LargeMediaWarning(const MediaInfo& info, int index, int64_t threshold);

}  // namespace qwenvl::cli
