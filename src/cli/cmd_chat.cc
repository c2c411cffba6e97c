// `qwenvl chat`: a multi-turn conversation in the terminal. Earlier turns (with their pictures)
// stay in the context and their KV cache is reused: each turn computes only its new tokens.
//   /image PATH   attach a picture to the next message     /video PATH   attach a video
//   /reset        forget the conversation                  /quit         leave
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/plan_output.h"
#include "cli/run_options.h"
#include "qwenvl/engine.h"
#include "util/error.h"

namespace qwenvl::cli {
namespace {

struct ChatOptions {
  ModelOptions model;
  GenerationOptions generation;
  MediaBudgetOptions budget;
  std::optional<std::string> system;
  bool stats = false;
};

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

class Chat {
 public:
  explicit Chat(const ChatOptions& o) : o_(o), engine_(Engine::Load(o.model.ToEngineOptions())) {
    session_ = engine_->NewSession();
  }

  void Loop() {
    std::fprintf(stderr,
                 "qwenvl chat: %s loaded in %.1f s. /image PATH, /video PATH, /reset, /quit\n",
                 engine_->model_name().c_str(), engine_->load_seconds());
    std::string line;
    while (Prompt(), std::getline(std::cin, line)) {
      line = Trim(line);
      if (line.empty()) continue;
      if (line == "/quit" || line == "/exit") break;
      try {
        if (!Command(line)) Turn(line);
      } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", WithFlag(e).what());
      }
    }
  }

 private:
  void Prompt() {
    std::fprintf(stdout, "> ");
    std::fflush(stdout);
  }

  // Returns true when the line was a command.
  bool Command(const std::string& line) {
    if (line == "/reset") {
      history_.clear();
      pending_.clear();
      session_->Reset();
      std::fprintf(stderr, "(conversation cleared)\n");
      return true;
    }
    for (const auto& [prefix, kind] :
         {std::pair{"/image ", Media::Kind::kImage}, std::pair{"/video ", Media::Kind::kVideo}}) {
      if (line.rfind(prefix, 0) != 0) continue;
      Media m = MediaFromPath(kind, Trim(line.substr(std::string(prefix).size())));
      o_.budget.ApplyTo(m);
      pending_.push_back({ContentPart::Type::kMedia, {}, std::move(m)});
      std::fprintf(stderr, "(attached to your next message)\n");
      return true;
    }
    if (line[0] == '/') throw Error(ErrorCode::kInvalidArgument, "unknown command " + line);
    return false;
  }

  void Turn(const std::string& text) {
    Message user;
    user.role = "user";
    user.content = std::move(pending_);
    pending_.clear();
    user.content.push_back({ContentPart::Type::kText, text, {}});
    Request request;
    request.messages = history_;
    request.messages.push_back(user);
    request.system_prompt = o_.system;
    request.sampling = o_.generation.ToSamplingParams();
    request.constraint = o_.generation.ToConstraint();
    const Result r = session_->Generate(request, [](std::string_view t) {
      std::fwrite(t.data(), 1, t.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fprintf(stdout, "\n");
    std::fflush(stdout);
    if (r.plan) std::fputs(PlanNotice(*r.plan).c_str(), stderr);
    history_.push_back(std::move(user));
    history_.push_back(Message::Text("assistant", r.text));
    if (o_.stats)
      std::fprintf(
          stderr, "[%lld prompt tokens (%lld reused), %lld new, %.1f tokens/s]\n",
          static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.cached_prompt_tokens),
          static_cast<long long>(r.completion_tokens),
          r.timings.decode_ms > 0 ? r.completion_tokens * 1000.0 / r.timings.decode_ms : 0.0);
  }

  const ChatOptions& o_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Session> session_;
  std::vector<Message> history_;
  std::vector<ContentPart> pending_;
};

}  // namespace

void AddChatCommand(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "Multi-turn chat in the terminal");
  AddModelOptions(cmd, o->model);
  AddGenerationOptions(cmd, o->generation);
  AddMediaBudgetOptions(cmd, o->budget);
  cmd->add_option("--system", o->system, "System prompt (default: the template's)");
  cmd->add_flag("--stats", o->stats, "Print token counts and speed after each answer");
  cmd->callback([o] { Chat(*o).Loop(); });
}

}  // namespace qwenvl::cli
