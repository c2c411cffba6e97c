#include "cli/chat_session.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/plan_output.h"
#include "qwenvl/error.h"
#include "util/replace_file.h"

namespace qwenvl::cli::chat {
namespace {

namespace fs = std::filesystem;

// Whole strings (a typed NUL byte included), not C strings.
void Note(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fputc('\n', stderr);
}
void Problem(const std::string& text) { Note("error: " + text); }

std::string Absolute(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// The single path of a /save or /load argument.
std::optional<std::string> OnePath(const std::string& command, const std::string& argument,
                                   const std::string& home) {
  const PathList list = ParsePaths(argument, home, 1);
  if (!list.error.empty()) {
    Problem(command + ": " + list.error + " (usage: " + command + " FILE)");
    return std::nullopt;
  }
  return list.paths[0];
}

}  // namespace

std::string HelpText() {
  return "Type a message and press Enter; the model answers.\n"
         "  /image PATH...      attach pictures to your next message (also: a message that is\n"
         "                      only paths of pictures, e.g. a file dragged into the terminal)\n"
         "  /video PATH         attach a video (a file, or a folder of frames)\n"
         "  /system [TEXT]      show or set the system prompt\n"
         "  /set [NAME VALUE]   show or set a sampling option: temperature, top_p, top_k, min_p,\n"
         "                      max_tokens, seed, repetition_penalty (VALUE `default` restores)\n"
         "  /save FILE          save the conversation as JSON (pictures by path)\n"
         "  /load FILE          continue a saved conversation\n"
         "  /reset              forget the conversation (the settings stay)\n"
         "  /help               this text\n"
         "  /quit, /bye         leave (so do Ctrl-D and Ctrl-C twice at an empty prompt)\n"
         "Paths may be quoted ('a b.png', \"a b.png\"), escaped (a\\ b.png) and start with ~.\n"
         "\"\"\" begins a message of several lines; a line ending with \"\"\" ends it.\n"
         "Ctrl-C stops an answer: your message stays in the conversation, the partial answer is\n"
         "dropped (as ollama does). Ctrl-C at the prompt clears the line.\n"
         "Up and down arrows recall earlier lines; the history is kept between runs.\n";
}

ChatSession::ChatSession(Engine& engine, SessionSettings settings, InterruptScope& interrupts)
    : engine_(engine),
      settings_(std::move(settings)),
      sampling_(settings_.sampling),
      interrupts_(interrupts),
      session_(engine.NewSession()) {
  transcript_.system = settings_.system;
  if (const char* home = std::getenv("HOME")) home_ = home;
}

void ChatSession::Help() const { std::fputs(HelpText().c_str(), stderr); }

bool ChatSession::Handle(const std::string& line) {
  const std::string_view trimmed = Trim(line);
  if (trimmed.empty()) return true;
  const Command c = ParseCommand(trimmed);
  switch (c.kind) {
    case CommandKind::kMessage:
      if (!AttachIfPaths(std::string(trimmed))) Turn(std::string(trimmed));
      return true;
    case CommandKind::kHelp:
      Help();
      return true;
    case CommandKind::kImage:
      AttachArgument(Media::Kind::kImage, c.argument);
      return true;
    case CommandKind::kVideo:
      AttachArgument(Media::Kind::kVideo, c.argument);
      return true;
    case CommandKind::kSystem:
      if (c.argument.empty()) {
        Note(transcript_.system ? "system prompt: " + *transcript_.system
                                : "system prompt: (the chat template's default)");
      } else {
        transcript_.system = c.argument;
        Note("(system prompt set)");
      }
      return true;
    case CommandKind::kSet:
      if (c.argument.empty()) {
        std::fputs(DescribeSettings(sampling_).c_str(), stderr);
      } else if (const std::string error = ApplySetting(c.argument, settings_.sampling, sampling_,
                                                        engine_.options().context_length);
                 !error.empty()) {
        Problem(error);
      } else {
        Note("(set)");
      }
      return true;
    case CommandKind::kSave:
      Save(c.argument);
      return true;
    case CommandKind::kLoad:
      Load(c.argument);
      return true;
    case CommandKind::kReset:
      transcript_.turns.clear();
      pending_.clear();
      session_->Reset();
      Note("(conversation cleared)");
      return true;
    case CommandKind::kQuit:
      return false;
    case CommandKind::kUnknown:
      // A dragged-in absolute path starts with '/' too.
      if (!AttachIfPaths(std::string(trimmed)))
        Problem("unknown command " + c.name + " (/help lists them)");
      return true;
  }
  return true;
}

void ChatSession::Send(const std::string& text) {
  if (Trim(text).empty()) return;
  Turn(text);
}

bool ChatSession::Attach(Media::Kind kind, const std::string& path) {
  const std::string absolute = Absolute(path);
  std::error_code ec;
  const auto status = fs::status(absolute, ec);
  if (ec || !fs::exists(status)) {
    Problem(path + ": no such file");
    return false;
  }
  const bool folder = fs::is_directory(status);
  if (kind == Media::Kind::kImage ? !fs::is_regular_file(status)
                                  : !(folder || fs::is_regular_file(status))) {
    Problem(path + (folder ? ": a folder, not a picture (a folder of frames is a /video)"
                           : ": not a regular file"));
    return false;
  }
  try {
    MediaFromPath(kind, absolute);  // checks a frame folder
  } catch (const Error& e) {
    Problem(e.what());
    return false;
  }
  pending_.push_back({kind, absolute});
  Note("(" + fs::path(absolute).filename().string() + " attached to your next message)");
  return true;
}

void ChatSession::AttachArgument(Media::Kind kind, const std::string& argument) {
  const char* usage = kind == Media::Kind::kImage ? "/image PATH..." : "/video PATH";
  // An unquoted name with spaces ("/image my photo.png") is taken whole when it names a file.
  if (!argument.empty() && argument.find_first_of("'\"\\") == std::string::npos) {
    const PathList whole = ParsePaths("'" + argument + "'", home_, 1);
    std::error_code ec;
    if (argument.find(' ') != std::string::npos && whole.error.empty() &&
        fs::exists(whole.paths[0], ec)) {
      Attach(kind, whole.paths[0]);
      return;
    }
  }
  const PathList list = ParsePaths(argument, home_, kind == Media::Kind::kImage ? 16 : 1);
  if (!list.error.empty()) {
    Problem(std::string(usage) + ": " + list.error);
    return;
  }
  for (const std::string& path : list.paths) Attach(kind, path);
}

bool ChatSession::AttachIfPaths(const std::string& line) {
  const PathList list = ParsePaths(line, home_);
  if (!list.error.empty()) return false;
  std::error_code ec;
  for (const std::string& path : list.paths)
    if (!HasImageExtension(path) || !fs::is_regular_file(path, ec)) return false;
  for (const std::string& path : list.paths) Attach(Media::Kind::kImage, path);
  return true;
}

void ChatSession::Save(const std::string& argument) const {
  const auto path = OnePath("/save", argument, home_);
  if (!path) return;
  try {
    ReplaceFile(*path, TranscriptToJson(transcript_), 0600);  // a conversation is private
  } catch (const Error& e) {
    Problem(e.what());
    return;
  }
  Note("(" + std::to_string(transcript_.turns.size()) + " messages saved to " + *path + ")");
}

void ChatSession::Load(const std::string& argument) {
  const auto path = OnePath("/load", argument, home_);
  if (!path) return;
  try {
    std::error_code ec;
    if (!fs::is_regular_file(*path, ec)) throw Error(ErrorCode::kNotFound, "no such file");
    const auto size = fs::file_size(*path, ec);
    if (ec || size > kMaxTranscriptBytes)
      throw Error(ErrorCode::kOutOfRange,
                  "larger than " + std::to_string(kMaxTranscriptBytes >> 20) + " MiB");
    std::ifstream in(*path, std::ios::binary);
    std::string text(static_cast<size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (!in) throw Error(ErrorCode::kIo, "cannot read");
    Transcript loaded = TranscriptFromJson(text);
    // Every picture must still be there: a missing one would fail every later turn.
    for (size_t i = 0; i < loaded.turns.size(); ++i)
      for (const Attachment& a : loaded.turns[i].media)
        if (!fs::exists(a.path, ec))
          throw Error(ErrorCode::kNotFound,
                      "messages[" + std::to_string(i) + "]: " + a.path + ": no such file");
    transcript_ = std::move(loaded);
    pending_.clear();
    Note("(" + std::to_string(transcript_.turns.size()) + " messages loaded from " + *path + ")");
  } catch (const Error& e) {
    Problem("/load " + *path + ": " + e.what() + " (the conversation is unchanged)");
  }
}

Request ChatSession::BuildRequest(const chat::Turn& user) const {
  Request request;
  auto add = [&](const chat::Turn& t) {
    Message m;
    m.role = t.role;
    for (const Attachment& a : t.media) {
      Media media = MediaFromPath(a.kind, a.path);
      settings_.budget.ApplyTo(media);
      m.content.push_back({ContentPart::Type::kMedia, {}, std::move(media)});
    }
    m.content.push_back({ContentPart::Type::kText, t.text, {}});
    request.messages.push_back(std::move(m));
  };
  for (const chat::Turn& t : transcript_.turns) add(t);
  add(user);
  request.system_prompt = transcript_.system;
  request.sampling = sampling_;
  request.constraint = settings_.constraint;
  return request;
}

void ChatSession::Turn(const std::string& text) {
  chat::Turn user{"user", text, std::move(pending_)};
  pending_.clear();
  // Pictures before videos, as a saved conversation lists them: a reloaded conversation renders
  // the same prompt.
  std::stable_partition(user.media.begin(), user.media.end(),
                        [](const Attachment& a) { return a.kind == Media::Kind::kImage; });
  Result r;
  struct Busy {
    InterruptScope& interrupts;
    explicit Busy(InterruptScope& i) : interrupts(i) { interrupts.SetBusy(true); }
    ~Busy() { interrupts.SetBusy(false); }
  };
  try {
    Request request = BuildRequest(user);
    ProgressDisplay* const progress = settings_.progress;
    if (progress != nullptr) request.on_progress = progress->Callback();
    // A Ctrl-C stops the answer at the model's next step: an encoder block, a video slice, a
    // piece of the prompt or a token.
    request.cancel = interrupts_.flag();
    const Busy busy(interrupts_);
    // The session's KV cache keeps the earlier turns.
    r = session_->Generate(request, [this, progress](std::string_view t) {
      if (progress != nullptr) progress->Clear();  // the answer starts on a clean line
      std::fwrite(t.data(), 1, t.size(), stdout);
      std::fflush(stdout);
      return !interrupts_.pending();
    });
  } catch (const Error& e) {
    if (settings_.progress != nullptr) settings_.progress->Clear();
    std::fprintf(stdout, "\n");
    Problem(std::string(WithFlag(e).what()) + " (the message was not sent)");
    return;
  }
  if (settings_.progress != nullptr) settings_.progress->Clear();
  std::fprintf(stdout, "\n");
  std::fflush(stdout);
  // Budgets lowered to fit the context (each turn plans the whole conversation again).
  if (r.plan) std::fputs(PlanNotice(*r.plan).c_str(), stderr);
  transcript_.turns.push_back(std::move(user));
  if (r.finish_reason == FinishReason::kCancelled) {
    Note("(stopped; your message stays in the conversation, the partial answer does not)");
    return;
  }
  transcript_.turns.push_back({"assistant", r.text, {}});
  if (settings_.stats)
    std::fprintf(
        stderr, "[%lld prompt tokens (%lld reused), %lld new, %.1f tokens/s]\n",
        static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.cached_prompt_tokens),
        static_cast<long long>(r.completion_tokens),
        r.timings.decode_ms > 0 ? r.completion_tokens * 1000.0 / r.timings.decode_ms : 0.0);
}

}  // namespace qwenvl::cli::chat
