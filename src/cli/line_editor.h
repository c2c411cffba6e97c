// Reading the lines of an interactive command. On a terminal: libedit (emacs keys, arrows, the
// history, ~/.editrc), the history kept in a file between runs. Otherwise (a script pipes into the
// command): plain lines, no prompt, no history file. Either way Ctrl-C (an InterruptScope) ends a
// read with kInterrupted instead of ending the process, and a line is at most kMaxLineBytes.
#pragma once

#include <cwchar>
#include <memory>
#include <string>

#include "cli/interrupt.h"

// libedit's handles (histedit.h), declared here to keep its names out of the includers.
struct editline;
struct history;

namespace qwenvl::cli {

class LineEditor {
 public:
  static constexpr size_t kMaxLineBytes = size_t{1} << 20;
  static constexpr int kHistoryLines = 1000;

  // `history_path`: the file to load the history from and save it to ("" for none); used only on
  // a terminal.
  LineEditor(InterruptScope& interrupts, std::string history_path);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  enum class Status {
    kLine,         // text holds the line, without its newline
    kInterrupted,  // Ctrl-C: the line typed so far is dropped
    kEnd,          // Ctrl-D on an empty line, or the end of the input
    kTooLong,      // a line over kMaxLineBytes, dropped
  };
  struct Input {
    Status status = Status::kEnd;
    std::string text;
  };
  Input Read(const std::string& prompt);
  // Adds a line to the history (and its file); blank lines and repeats are not kept.
  void Remember(const std::string& line);
  // stdin and stdout are terminals.
  bool interactive() const { return interactive_; }

  // The history file: $XDG_STATE_HOME/qwenvl/chat_history, else ~/.local/state/qwenvl/...;
  // "" when neither variable is set.
  static std::string DefaultHistoryPath();

 private:
  Input ReadPlain();
  Input ReadEdited(const std::string& prompt);
  // libedit's character reader: waits for a key or a Ctrl-C, decodes UTF-8.
  static int GetChar(::editline* el, wchar_t* out);
  static const char* Prompt(::editline* el);

  InterruptScope& interrupts_;
  std::string history_path_;
  bool interactive_ = false;
  bool interrupted_ = false;
  std::string prompt_;
  std::mbstate_t mb_{};
  ::editline* el_ = nullptr;
  ::history* history_ = nullptr;
  // Plain mode: bytes read past the last line.
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace qwenvl::cli
