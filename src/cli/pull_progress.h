// The progress of `qwenvl pull` on stderr: on a terminal one line redrawn (the whole pull's bytes,
// rate and the files in flight with their percentages); otherwise one line per file when it ends.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "hub/pull.h"

namespace qwenvl::cli {

std::string HumanBytes(uint64_t bytes);

class PullProgress : public hub::PullObserver {
 public:
  PullProgress(std::FILE* out, bool terminal);
  void OnListed(const std::string& commit, size_t files, uint64_t total_bytes) override;
  void OnFileStart(const std::string& path, uint64_t size, uint64_t present) override;
  void OnFileBytes(const std::string& path, uint64_t bytes) override;
  void OnFileRetry(const std::string& path, uint64_t present, const std::string& why) override;
  void OnFileDone(const std::string& path, uint64_t size, bool downloaded) override;
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  struct Active {
    uint64_t size = 0, have = 0, start_bytes = 0;
    Clock::time_point start;
  };
  void Redraw(bool force);
  double Rate() const;  // bytes received per second since the start

  std::FILE* out_;
  bool terminal_;
  size_t files_ = 0, done_ = 0;
  uint64_t total_ = 0, have_ = 0, received_ = 0;
  Clock::time_point start_ = Clock::now(), last_draw_{};
  std::map<std::string, Active> active_;
};

}  // namespace qwenvl::cli
