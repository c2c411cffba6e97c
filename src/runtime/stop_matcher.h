// Stop strings over streamed text: text that could still be the beginning of a stop string is held
// back until it is known not to be one, so a stop string never reaches the caller, even in part.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwenvl::runtime {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds decoded text; returns the text that is safe to emit now. After a stop string is found,
  // stopped() is true and the returned text ends right before it.
  std::string Push(std::string_view text);
  // The held-back text at the end of generation (no stop string matched).
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace qwenvl::runtime
