#include "cli/pull_progress.h"

#include <cinttypes>

namespace qwenvl::cli {

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

PullProgress::PullProgress(std::FILE* out, bool terminal) : out_(out), terminal_(terminal) {}

double PullProgress::Rate() const {
  const double s = std::chrono::duration<double>(Clock::now() - start_).count();
  return s > 0 ? static_cast<double>(received_) / s : 0;
}

void PullProgress::OnListed(const std::string& commit, size_t files, uint64_t total_bytes) {
  files_ = files;
  total_ = total_bytes;
  std::fprintf(out_, "commit %s: %zu files, %s\n", commit.c_str(), files,
               HumanBytes(total_bytes).c_str());
}

void PullProgress::OnFileStart(const std::string& path, uint64_t size, uint64_t present) {
  Active& a = active_[path];
  have_ += present - std::min(present, a.have);  // a retry re-announces what was there
  a.size = size;
  a.have = present;
  a.start_bytes = present;
  a.start = Clock::now();
  Redraw(false);
}

void PullProgress::OnFileBytes(const std::string& path, uint64_t bytes) {
  active_[path].have += bytes;
  have_ += bytes;
  received_ += bytes;
  Redraw(false);
}

void PullProgress::OnFileRetry(const std::string& path, uint64_t present, const std::string& why) {
  Active& a = active_[path];
  have_ -= a.have - std::min(a.have, present);
  a.have = present;
  if (terminal_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s: %s; resuming at %s\n", path.c_str(), why.c_str(),
               HumanBytes(present).c_str());
  Redraw(true);
}

void PullProgress::OnFileDone(const std::string& path, uint64_t size, bool downloaded) {
  const Active a = active_[path];
  active_.erase(path);
  ++done_;
  if (!terminal_) {
    const double s = std::chrono::duration<double>(Clock::now() - a.start).count();
    if (downloaded) {
      const uint64_t got = a.have - a.start_bytes;
      std::fprintf(
          out_, "[%zu/%zu] %s %s (%s/s)\n", done_, files_, path.c_str(), HumanBytes(size).c_str(),
          HumanBytes(s > 0 ? static_cast<uint64_t>(static_cast<double>(got) / s) : got).c_str());
    } else {
      std::fprintf(out_, "[%zu/%zu] %s %s (already in the cache)\n", done_, files_, path.c_str(),
                   HumanBytes(size).c_str());
    }
    std::fflush(out_);
    return;
  }
  Redraw(true);
}

void PullProgress::Redraw(bool force) {
  if (!terminal_) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::string line = "[" + std::to_string(done_) + "/" + std::to_string(files_) + "] " +
                     HumanBytes(have_) + " / " + HumanBytes(total_) + "  " +
                     HumanBytes(static_cast<uint64_t>(Rate())) + "/s";
  for (const auto& [path, a] : active_) {
    const int pct =
        a.size ? static_cast<int>(100.0 * static_cast<double>(a.have) / static_cast<double>(a.size))
               : 100;
    line += "  " + path + " " + std::to_string(pct) + "%";
    if (line.size() > 160) break;
  }
  std::fprintf(out_, "\r\033[K%s", line.c_str());
  std::fflush(out_);
}

void PullProgress::Finish() {
  if (terminal_) {
    Redraw(true);
    std::fputc('\n', out_);
  }
}

}  // namespace qwenvl::cli
