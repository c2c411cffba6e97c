#include "cli/interrupt.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "qwenvl/error.h"

namespace qwenvl::cli {
namespace {

// Globals because a signal handler can reach nothing else; one scope at a time.
std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_busy{false};
std::atomic<int> g_busy_presses{0};
int g_pipe[2] = {-1, -1};
struct sigaction g_previous;

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the handler needs lock-free atomics");

extern "C" void OnInterrupt(int) {
  const int saved = errno;
  g_interrupted.store(true, std::memory_order_relaxed);
  if (g_busy.load(std::memory_order_relaxed)) {
    const int presses = g_busy_presses.fetch_add(1, std::memory_order_relaxed) + 1;
    if (presses == 2) {
      static constexpr char kNote[] =
          "\n(stopping at the next step of the model; Ctrl-C once more quits now)\n";
      [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, kNote, sizeof kNote - 1);
    } else if (presses >= 3) {
      ::signal(SIGINT, SIG_DFL);
      ::raise(SIGINT);
    }
  }
  const char byte = 1;
  // Non-blocking: a full pipe already says "interrupted".
  [[maybe_unused]] const ssize_t n = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

InterruptScope::InterruptScope() {
  if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    throw Error(ErrorCode::kIo, "cannot create the interrupt pipe");
  g_interrupted.store(false);
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, &g_previous);
}

InterruptScope::~InterruptScope() {
  ::sigaction(SIGINT, &g_previous, nullptr);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

int InterruptScope::fd() const { return g_pipe[0]; }

bool InterruptScope::Take() {
  char buf[64];
  while (::read(g_pipe[0], buf, sizeof buf) > 0) {
  }
  return g_interrupted.exchange(false);
}

bool InterruptScope::pending() const { return g_interrupted.load(std::memory_order_relaxed); }

const std::atomic<bool>* InterruptScope::flag() const { return &g_interrupted; }

void InterruptScope::SetBusy(bool busy) {
  g_busy_presses.store(0);
  g_busy.store(busy);
}

}  // namespace qwenvl::cli
