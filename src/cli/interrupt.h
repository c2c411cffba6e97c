// Ctrl-C for an interactive command: while an InterruptScope lives, SIGINT does not end the
// process; it sets a flag and writes a byte to a pipe (the self-pipe trick), so that a loop waiting
// in poll() wakes up and a running answer sees the flag (Request::cancel) at its next step. The handler does only
// async-signal-safe things: an atomic store and a write(2).
#pragma once

#include <atomic>

namespace qwenvl::cli {

class InterruptScope {
 public:
  InterruptScope();   // installs the handler (without SA_RESTART: a blocked read returns EINTR)
  ~InterruptScope();  // restores the previous disposition
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // The read end of the pipe: readable after a Ctrl-C until Take() drains it.
  int fd() const;
  // True when Ctrl-C was pressed since the last call; clears the flag and drains the pipe.
  bool Take();
  // Whether Ctrl-C was pressed, without clearing (cheap: for the token loop).
  bool pending() const;
  // The flag itself, for Request::cancel: a running answer stops at its next block, slice, prompt
  // piece or token.
  const std::atomic<bool>* flag() const;
  // While busy (an answer is computed), the first Ctrl-C asks it to stop (Request::cancel: at the
  // encoder's next block, the prompt's next piece or the next token); should that not come soon,
  // the second Ctrl-C says so, and the third ends the process at once (SIGINT's default action).
  void SetBusy(bool busy);
};

}  // namespace qwenvl::cli
