// The conversation behind `qwenvl chat`: the turns so far (with their pictures and videos by path),
// the attachments waiting for the next message, the system prompt and the sampling settings, and
// the engine Session whose KV cache keeps the earlier turns (each turn computes only its new
// tokens). It handles the slash commands and the messages of chat_commands.h and prints to
// stdout (answers) and stderr (notes and errors).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli/chat_commands.h"
#include "cli/chat_transcript.h"
#include "cli/interrupt.h"
#include "cli/progress_display.h"
#include "cli/run_options.h"
#include "qwenvl/engine.h"

namespace qwenvl::cli::chat {

struct SessionSettings {
  SamplingParams sampling;  // the command line's: /set changes a copy, `default` restores these
  OutputConstraint constraint;
  MediaBudgetOptions budget;
  std::optional<std::string> system;
  bool stats = false;
  // Shows the vision encoding and prefill of each turn (cleared before the answer); none: null.
  ProgressDisplay* progress = nullptr;
};

class ChatSession {
 public:
  ChatSession(Engine& engine, SessionSettings settings, InterruptScope& interrupts);

  // A line typed at the prompt (a command or a message). Returns false for /quit.
  bool Handle(const std::string& line);
  // Text for the model as it is (a `"""` message).
  void Send(const std::string& text);
  // Attaches a file to the next message; prints an error and attaches nothing when it is missing.
  // `path` is already unquoted and expanded. Returns whether it was attached.
  bool Attach(Media::Kind kind, const std::string& path);

  const Transcript& transcript() const { return transcript_; }

 private:
  void Help() const;
  void AttachArgument(Media::Kind kind, const std::string& argument);
  bool AttachIfPaths(const std::string& line);
  void Save(const std::string& argument) const;
  void Load(const std::string& argument);
  void Turn(const std::string& text);
  Request BuildRequest(const chat::Turn& user) const;

  Engine& engine_;
  SessionSettings settings_;
  SamplingParams sampling_;
  InterruptScope& interrupts_;
  std::unique_ptr<Session> session_;
  Transcript transcript_;
  std::vector<Attachment> pending_;
  std::string home_;
};

// The help text of /help (also checked by the tests).
std::string HelpText();

}  // namespace qwenvl::cli::chat
