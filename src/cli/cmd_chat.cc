// `qwenvl chat`: a multi-turn conversation in the terminal, with line editing and a history kept
// between runs (libedit), slash commands (/help lists them), `"""` multi-line messages, and
// Ctrl-C that stops an answer without ending the conversation. Earlier turns (with their
// pictures) stay in the context and their KV cache is reused: each turn computes only its new
// tokens. When stdin is not a terminal, lines are read plainly (no prompt, no history file).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/chat_commands.h"
#include "cli/chat_session.h"
#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/line_editor.h"
#include "cli/progress_display.h"
#include "cli/run_options.h"
#include "qwenvl/engine.h"

namespace qwenvl::cli {
namespace {

struct ChatOptions {
  ModelOptions model;
  GenerationOptions generation;
  MediaBudgetOptions budget;
  std::optional<std::string> system;
  std::vector<std::string> images, videos;
  bool stats = false;
  bool quiet = false;
};

void Chat(const ChatOptions& o) {
  ProgressDisplay progress(ProgressDisplay::ModeFor(o.quiet, stderr));
  const std::unique_ptr<Engine> engine =
      Engine::Load(o.model.ToEngineOptions(), progress.Callback());
  progress.Clear();
  chat::SessionSettings settings;
  settings.sampling = o.generation.ToSamplingParams();
  settings.constraint = o.generation.ToConstraint();
  settings.budget = o.budget;
  settings.system = o.system;
  settings.stats = o.stats;
  settings.progress = &progress;
  // From here Ctrl-C belongs to the conversation (during the load it still ends the program).
  InterruptScope interrupts;
  chat::ChatSession session(*engine, std::move(settings), interrupts);
  LineEditor editor(interrupts, LineEditor::DefaultHistoryPath());
  std::fprintf(stderr, "qwenvl chat: %s loaded in %.1f s. /help for help, Ctrl-D to leave.\n",
               engine->model_name().c_str(), engine->load_seconds());
  for (const auto& p : o.images) session.Attach(Media::Kind::kImage, p);
  for (const auto& p : o.videos) session.Attach(Media::Kind::kVideo, p);

  chat::MultilineReader multiline;
  bool quit_armed = false;  // Ctrl-C at an empty prompt; a second one leaves
  for (;;) {
    LineEditor::Input in = editor.Read(multiline.open() ? "... " : ">>> ");
    if (in.status == LineEditor::Status::kEnd) {
      if (multiline.open()) std::fprintf(stderr, "(an unterminated \"\"\" message was dropped)\n");
      break;
    }
    if (in.status == LineEditor::Status::kInterrupted) {
      if (multiline.open()) {
        multiline.Clear();
        quit_armed = false;
        continue;
      }
      if (!in.text.empty() || !quit_armed) {
        if (in.text.empty()) std::fprintf(stderr, "(Ctrl-C again or Ctrl-D to leave)\n");
        quit_armed = in.text.empty();
        continue;
      }
      break;
    }
    quit_armed = false;
    if (in.status == LineEditor::Status::kTooLong) {
      std::fprintf(stderr, "error: a line longer than %zu bytes, dropped\n",
                   LineEditor::kMaxLineBytes);
      multiline.Clear();
      continue;
    }
    editor.Remember(in.text);
    const chat::MultilineReader::Outcome m = multiline.Feed(in.text);
    if (m.status == chat::MultilineReader::Status::kMore) continue;
    if (m.status == chat::MultilineReader::Status::kTooLong) {
      std::fprintf(stderr, "error: a message longer than %zu bytes, dropped\n",
                   chat::MultilineReader::kMaxBytes);
      continue;
    }
    if (m.quoted) {
      session.Send(m.text);
    } else if (!session.Handle(m.text)) {
      break;
    }
    interrupts.Take();  // a Ctrl-C meant for an answer that had just ended
  }
}

}  // namespace

void AddChatCommand(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "Multi-turn chat in the terminal (/help inside)");
  AddModelOptions(cmd, o->model);
  AddGenerationOptions(cmd, o->generation);
  AddMediaBudgetOptions(cmd, o->budget);
  cmd->add_option("--system", o->system, "System prompt (default: the template's)");
  cmd->add_option("--image", o->images, "A picture for the first message (repeatable)");
  cmd->add_option("--video", o->videos,
                  "A video (file or folder of frames) for the first message (repeatable)");
  cmd->add_flag("--stats", o->stats, "Print token counts and speed after each answer");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress lines on standard error");
  cmd->callback([o] { Chat(*o); });
}

}  // namespace qwenvl::cli
