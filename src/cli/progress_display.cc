#include "cli/progress_display.h"

#include <unistd.h>

#include <cmath>

namespace qwenvl::cli {

namespace {

// Redraws of a terminal line at most this often (a phase's last piece is always drawn).
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string Seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  return buf;
}

}  // namespace

ProgressDisplay::Mode ProgressDisplay::ModeFor(bool quiet, FILE* stream) {
  if (quiet) return Mode::kOff;
  return ::isatty(::fileno(stream)) ? Mode::kTerminal : Mode::kLines;
}

std::string ProgressDisplay::Line(const Progress& p) {
  const double fraction =
      p.total > 0 ? static_cast<double>(p.done) / static_cast<double>(p.total) : 0.0;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-7s %lld/%lld %s  %3.0f%%  %s", ProgressPhaseName(p.phase),
                static_cast<long long>(p.done), static_cast<long long>(p.total), p.unit,
                fraction * 100.0, Seconds(p.elapsed_ms).c_str());
  std::string line = buf;
  if (p.done > 0 && p.done < p.total) {
    // The pieces of a phase take about the same time each: the rest at the rate so far.
    const double left_ms =
        p.elapsed_ms * static_cast<double>(p.total - p.done) / static_cast<double>(p.done);
    line += ", about " + std::to_string(static_cast<long long>(std::ceil(left_ms / 1000.0))) +
            " s left";
  }
  return line;
}

std::string ProgressDisplay::Summary(const Progress& p) {
  return "[" + std::string(ProgressPhaseName(p.phase)) + ": " + std::to_string(p.total) + " " +
         p.unit + " in " + Seconds(p.elapsed_ms) + "]";
}

void ProgressDisplay::Update(const Progress& p) {
  if (mode_ == Mode::kOff) return;
  const bool last = p.done >= p.total;
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == Mode::kLines) {
    if (last) std::fprintf(stream_, "%s\n", Summary(p).c_str());
    std::fflush(stream_);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!last && line_shown_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  // \r and "erase to the end of the line": the next phase or the answer starts on a clean line.
  std::fprintf(stream_, "\r\033[K%s", Line(p).c_str());
  std::fflush(stream_);
  line_shown_ = true;
}

void ProgressDisplay::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!line_shown_) return;
  std::fprintf(stream_, "\r\033[K");
  std::fflush(stream_);
  line_shown_ = false;
}

std::optional<std::string> LargeMediaWarning(const MediaInfo& info, int index, int64_t threshold) {
  if (info.tokens <= threshold || info.tokens <= 0) return std::nullopt;
  // Vision tokens grow with the resized area (per frame for a video): the area scaled by
  // threshold / tokens brings the item under the threshold.
  const double area =
      static_cast<double>(info.resized_width) * static_cast<double>(info.resized_height);
  const auto max_pixels = static_cast<long long>(
      std::floor(area * static_cast<double>(threshold) / static_cast<double>(info.tokens)));
  const bool image = info.kind == Media::Kind::kImage;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "warning: %s %d (%dx%d, resized to %dx%d) costs %lld vision tokens, which takes "
                "long on a CPU; --max-pixels %lld brings it under %lld",
                image ? "image" : "video", index + 1, info.original_width, info.original_height,
                info.resized_width, info.resized_height, static_cast<long long>(info.tokens),
                max_pixels, static_cast<long long>(threshold));
  return std::string(buf);
}

}  // namespace qwenvl::cli
