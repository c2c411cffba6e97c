#include "cli/line_editor.h"

#include <histedit.h>
#include <langinfo.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace qwenvl::cli {
namespace {

// Waits until stdin is readable or Ctrl-C was pressed; false on Ctrl-C.
bool WaitForInput(InterruptScope& interrupts) {
  for (;;) {
    if (interrupts.pending()) return false;
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {interrupts.fd(), POLLIN, 0}};
    const int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return true;  // let the read report the problem
    }
    if (fds[1].revents != 0 && interrupts.pending()) return false;
    if (fds[1].revents != 0) interrupts.Take();  // a stale byte: drain it
    if (fds[0].revents != 0) return true;
  }
}

}  // namespace

std::string LineEditor::DefaultHistoryPath() {
  const char* state = std::getenv("XDG_STATE_HOME");
  if (state != nullptr && state[0] == '/') return std::string(state) + "/qwenvl/chat_history";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0')
    return std::string(home) + "/.local/state/qwenvl/chat_history";
  return "";
}

LineEditor::LineEditor(InterruptScope& interrupts, std::string history_path)
    : interrupts_(interrupts), history_path_(std::move(history_path)) {
  interactive_ = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  if (!interactive_) return;
  // libedit measures and prints characters by the locale: UTF-8 text needs LC_CTYPE set. Under a
  // locale of another character set (LANG unset: "C", ASCII), C.UTF-8, which glibc always has.
  std::setlocale(LC_CTYPE, "");
  if (std::strcmp(nl_langinfo(CODESET), "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
  el_ = el_init("qwenvl", stdin, stdout, stderr);
  history_ = history_init();
  if (el_ == nullptr || history_ == nullptr) {
    interactive_ = false;
    return;
  }
  HistEvent ev;
  history(history_, &ev, H_SETSIZE, kHistoryLines);
  history(history_, &ev, H_SETUNIQUE, 1);
  if (!history_path_.empty()) history(history_, &ev, H_LOAD, history_path_.c_str());
  el_set(el_, EL_CLIENTDATA, this);
  el_set(el_, EL_EDITOR, "emacs");
  el_set(el_, EL_PROMPT, &LineEditor::Prompt);
  el_set(el_, EL_HIST, history, history_);
  el_set(el_, EL_GETCFN, &LineEditor::GetChar);
  el_source(el_, nullptr);  // ~/.editrc, as other libedit programs
}

LineEditor::~LineEditor() {
  if (el_ != nullptr) el_end(el_);
  if (history_ != nullptr) history_end(history_);
}

const char* LineEditor::Prompt(EditLine* el) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<LineEditor*>(self)->prompt_.c_str();
}

int LineEditor::GetChar(EditLine* el, wchar_t* out) {
  void* data = nullptr;
  el_get(el, EL_CLIENTDATA, &data);
  auto& self = *static_cast<LineEditor*>(data);
  for (;;) {
    if (!WaitForInput(self.interrupts_)) {
      self.interrupted_ = true;
      errno = EINTR;
      return -1;
    }
    char byte;
    const ssize_t n = ::read(STDIN_FILENO, &byte, 1);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    wchar_t wc;
    const size_t k = std::mbrtowc(&wc, &byte, 1, &self.mb_);
    if (k == static_cast<size_t>(-2)) continue;  // more bytes of the character to come
    if (k == static_cast<size_t>(-1)) {          // not UTF-8: the byte is dropped
      self.mb_ = {};
      continue;
    }
    *out = k == 0 ? L'\0' : wc;
    return 1;
  }
}

LineEditor::Input LineEditor::Read(const std::string& prompt) {
  return interactive_ ? ReadEdited(prompt) : ReadPlain();
}

LineEditor::Input LineEditor::ReadEdited(const std::string& prompt) {
  prompt_ = prompt;
  interrupted_ = false;
  mb_ = {};
  int count = 0;
  const char* line = el_gets(el_, &count);
  if (interrupted_ || interrupts_.pending()) {
    interrupts_.Take();
    const LineInfo* typed = el_line(el_);
    std::string dropped(typed->buffer, static_cast<size_t>(typed->lastchar - typed->buffer));
    std::fputs("^C\n", stdout);
    std::fflush(stdout);
    el_reset(el_);
    return {Status::kInterrupted, std::move(dropped)};
  }
  if (line == nullptr || count <= 0) {
    std::fputs("\n", stdout);
    return {Status::kEnd, {}};
  }
  std::string text(line, static_cast<size_t>(count));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.size() > kMaxLineBytes) return {Status::kTooLong, {}};
  return {Status::kLine, std::move(text)};
}

LineEditor::Input LineEditor::ReadPlain() {
  bool too_long = false;
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (too_long) return {Status::kTooLong, {}};
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() > kMaxLineBytes) return {Status::kTooLong, {}};
      return {Status::kLine, std::move(line)};
    }
    if (buffer_.size() > kMaxLineBytes) {  // keep reading to the newline, without the bytes
      too_long = true;
      buffer_.clear();
    }
    if (eof_) {
      if (buffer_.empty()) return {too_long ? Status::kTooLong : Status::kEnd, {}};
      std::string line = std::move(buffer_);
      buffer_.clear();
      if (too_long) return {Status::kTooLong, {}};
      return {Status::kLine, std::move(line)};
    }
    if (!WaitForInput(interrupts_)) {
      interrupts_.Take();
      std::string dropped = std::move(buffer_);
      buffer_.clear();
      return {Status::kInterrupted, std::move(dropped)};
    }
    char chunk[65536];
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void LineEditor::Remember(const std::string& line) {
  if (!interactive_ || line.find_first_not_of(" \t") == std::string::npos) return;
  HistEvent ev;
  history(history_, &ev, H_ENTER, line.c_str());
  if (history_path_.empty()) return;
  // Saved at each line, so that a crash or a closed terminal loses nothing; 0600: it may hold
  // private text.
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(history_path_).parent_path(), ec);
  const mode_t old = ::umask(077);
  history(history_, &ev, H_SAVE, history_path_.c_str());
  ::umask(old);
}

}  // namespace qwenvl::cli
