// `qwenvl run`: one question about images and videos, the answer streamed to stdout.
//   qwenvl run -m DIR --image photo.jpg -p "What is in this picture?"
//   qwenvl run -m DIR --image shelf.jpg -p "Locate every bottle, output bbox in JSON" --boxes
//   out.png
//   qwenvl run -m DIR -p "Hello" --logprobs 3   (each answer token with its log-probability)
//   echo "Describe it." | qwenvl run -m DIR --image photo.jpg -p -    (-f FILE: from a file)
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/grounding_output.h"
#include "cli/plan_output.h"
#include "cli/progress_display.h"
#include "cli/run_options.h"
#include "qwenvl/engine.h"
#include "runtime/request_plan.h"
#include "util/error.h"

namespace qwenvl::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  GenerationOptions generation;
  MediaBudgetOptions budget;
  std::vector<std::string> images, videos;
  std::string prompt;       // -p TEXT, or "-": standard input
  std::string prompt_file;  // -f FILE
  std::optional<std::string> system;
  std::string boxes_png;
  bool json = false;
  bool quiet = false;
  bool add_vision_id = false;
  int logprobs = -1;
};

// Images and videos in the order they were given on the command line, before the text.
Request BuildRequest(const RunOptions& o, const std::string& prompt, CLI::App* cmd) {
  Message user;
  user.role = "user";
  size_t next_image = 0, next_video = 0;
  for (const CLI::Option* opt : cmd->parse_order()) {
    const bool image = opt->get_name() == "--image", video = opt->get_name() == "--video";
    if (!image && !video) continue;
    const std::string& path = image ? o.images.at(next_image++) : o.videos.at(next_video++);
    Media m = MediaFromPath(image ? Media::Kind::kImage : Media::Kind::kVideo, path);
    o.budget.ApplyTo(m);
    user.content.push_back({ContentPart::Type::kMedia, {}, std::move(m)});
  }
  user.content.push_back({ContentPart::Type::kText, prompt, {}});
  Request r;
  r.messages.push_back(std::move(user));
  r.system_prompt = o.system;
  r.sampling = o.generation.ToSamplingParams();
  r.constraint = o.generation.ToConstraint();
  r.sampling.logprobs = o.logprobs;
  r.add_vision_id = o.add_vision_id;
  return r;
}

nlohmann::ordered_json TimingsJson(const Engine& engine, const Result& r) {
  const Timings& t = r.timings;
  nlohmann::ordered_json j;
  j["load_ms"] = engine.load_seconds() * 1000.0;
  j["preprocess_ms"] = t.preprocess_ms;
  j["vision_ms"] = t.vision_ms;
  j["prefill_ms"] = t.prefill_ms;
  j["decode_ms"] = t.decode_ms;
  j["first_token_ms"] = t.first_token_ms;
  const double prefill_tokens = static_cast<double>(r.prompt_tokens - r.cached_prompt_tokens);
  j["prefill_tokens_per_s"] = t.prefill_ms > 0 ? prefill_tokens * 1000.0 / t.prefill_ms : 0.0;
  j["decode_tokens_per_s"] =
      t.decode_ms > 0 ? static_cast<double>(r.completion_tokens) * 1000.0 / t.decode_ms : 0.0;
  return j;
}

// A token's bytes as a JSON string (a piece of a UTF-8 character shows as U+FFFD).
std::string Quoted(const std::string& bytes) {
  return nlohmann::json(bytes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// {"token", "text", "bytes", "logprob"}, and the alternatives' own for an answer token.
nlohmann::ordered_json LogprobJson(const TokenLogprob& t, bool with_top) {
  nlohmann::ordered_json j;
  j["token"] = t.token;
  j["text"] = t.text;
  std::vector<int> bytes;
  for (const unsigned char c : t.text) bytes.push_back(c);
  j["bytes"] = bytes;
  j["logprob"] = t.logprob;
  if (with_top) {
    j["top_logprobs"] = nlohmann::ordered_json::array();
    for (const TokenLogprob& alt : t.top) j["top_logprobs"].push_back(LogprobJson(alt, false));
  }
  return j;
}

// One line per answer token: its log-probability, its text, then the alternatives.
void PrintLogprobs(const Result& r) {
  std::printf("logprobs (token, then the most likely tokens):\n");
  for (const TokenLogprob& t : r.logprobs) {
    std::string line = "  " + std::to_string(t.logprob) + "  " + Quoted(t.text);
    if (!t.top.empty()) line += "   |";
    for (const TokenLogprob& alt : t.top)
      line += "  " + Quoted(alt.text) + " " + std::to_string(alt.logprob);
    std::printf("%s\n", line.c_str());
  }
}

// --boxes OUT.png is checked before the model loads: a picture to draw on, and a file that can be
// written (an existing one writable and no folder, else a writable folder to create it in).
void CheckBoxesOutput(const RunOptions& o) {
  if (o.boxes_png.empty()) return;
  if (o.images.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "--boxes " + o.boxes_png + " needs a picture in the request (--image)");
  namespace fs = std::filesystem;
  const fs::path out(o.boxes_png);
  std::error_code ec;
  if (fs::is_directory(out, ec))
    throw Error(ErrorCode::kInvalidArgument, "--boxes " + o.boxes_png + ": is a folder");
  if (fs::exists(out, ec)) {
    if (::access(out.c_str(), W_OK) != 0)
      throw Error(ErrorCode::kInvalidArgument,
                  "--boxes " + o.boxes_png + ": cannot write (" + std::strerror(errno) + ")");
    return;
  }
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::kNotFound, "--boxes " + o.boxes_png + ": no folder " + dir.string());
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw Error(ErrorCode::kInvalidArgument, "--boxes " + o.boxes_png + ": cannot write in " +
                                                 dir.string() + " (" + std::strerror(errno) + ")");
}

void Run(const RunOptions& o, CLI::App* cmd) {
  const std::string prompt = ResolvePrompt(o.prompt, o.prompt_file);
  CheckBoxesOutput(o);
  Request request = BuildRequest(o, prompt, cmd);
  ProgressDisplay progress(ProgressDisplay::ModeFor(o.quiet, stderr));
  auto engine = Engine::Load(o.model.ToEngineOptions(), progress.Callback());
  progress.Clear();
  if (!o.quiet) {
    const std::vector<MediaInfo> planned = engine->PlanMedia(request);  // headers only
    for (size_t i = 0; i < planned.size(); ++i)
      if (auto warning = LargeMediaWarning(planned[i], static_cast<int>(i), kLargeMediaTokens))
        std::fprintf(stderr, "%s\n", warning->c_str());
  }
  request.on_progress = progress.Callback();
  const bool stream = !o.json;
  Result result;
  try {
    result = engine->Generate(request, [stream, &progress](std::string_view text) {
      progress.Clear();  // the answer starts on a clean line
      if (stream) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
      }
      return true;
    });
  } catch (const Error& e) {
    throw WithFlag(e);
  }
  progress.Clear();
  // On stderr (with --json too: stdout stays one object), after the answer's line.
  const std::string notice = result.plan ? PlanNotice(*result.plan) : "";
  const GroundingOutput grounding = ExtractGrounding(request, result);
  if (!o.boxes_png.empty()) WriteBoxesPng(grounding, o.boxes_png);
  if (o.json) {
    nlohmann::ordered_json j;
    j["text"] = result.text;
    j["finish_reason"] = FinishReasonName(result.finish_reason);
    j["prompt_tokens"] = result.prompt_tokens;
    j["completion_tokens"] = result.completion_tokens;
    j["timings"] = TimingsJson(*engine, result);
    j["media"] = MediaJson(result.media);
    if (result.plan) j["plan"] = runtime::RequestPlanJson(*result.plan);
    j["grounding"] = GroundingJson(grounding);
    if (o.logprobs >= 0) {
      j["logprobs"] = nlohmann::ordered_json::array();
      for (const TokenLogprob& t : result.logprobs) j["logprobs"].push_back(LogprobJson(t, true));
    }
    // Token bytes may hold a piece of a UTF-8 character: replaced in "text" ("bytes" has them).
    std::printf("%s\n",
                j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    std::fputs(notice.c_str(), stderr);
    return;
  }
  std::printf("\n");
  if (o.logprobs >= 0) PrintLogprobs(result);
  std::fflush(stdout);  // the answer before the statistics on stderr
  std::fputs(notice.c_str(), stderr);
  const Timings& t = result.timings;
  std::fprintf(stderr,
               "[%lld prompt tokens, %lld new; load %.0f ms, preprocess %.0f ms, vision %.0f ms, "
               "prefill %.0f ms, decode %.0f ms (%.1f tokens/s)]\n",
               static_cast<long long>(result.prompt_tokens),
               static_cast<long long>(result.completion_tokens), engine->load_seconds() * 1000,
               t.preprocess_ms, t.vision_ms, t.prefill_ms, t.decode_ms,
               t.decode_ms > 0 ? result.completion_tokens * 1000.0 / t.decode_ms : 0.0);
  if (!o.boxes_png.empty())
    std::fprintf(stderr, "[%zu located object(s) drawn to %s]\n", grounding.items.size(),
                 o.boxes_png.c_str());
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Ask one question about images and videos");
  AddModelOptions(cmd, o->model);
  // Lists have no default worth showing ("[]").
  cmd->add_option("--image", o->images, "A picture (repeatable; JPEG, PNG, WebP, GIF, BMP)")
      ->default_str("");
  cmd->add_option("--video", o->videos, "A video file or a folder of frames (repeatable)")
      ->default_str("");
  auto* prompt =
      cmd->add_option("-p,--prompt", o->prompt, "The question (-: read it from standard input)");
  cmd->add_option("-f,--file", o->prompt_file,
                  "Read the question from this file (UTF-8, 4 MiB at most)")
      ->excludes(prompt);
  cmd->add_option("--system", o->system, "System prompt (default: the template's)");
  AddGenerationOptions(cmd, o->generation);
  AddMediaBudgetOptions(cmd, o->budget);
  cmd->add_flag("--add-vision-id", o->add_vision_id, "Prefix pictures with 'Picture N:'");
  cmd->add_option("--boxes", o->boxes_png,
                  "Draw the located objects of the answer on the picture, write PNG");
  cmd->add_flag("--json", o->json, "Print one JSON object: text, tokens, timings, boxes");
  cmd->add_flag("-q,--quiet", o->quiet,
                "No progress lines and no large-picture warning on standard error");
  cmd->add_option("--logprobs", o->logprobs,
                  "Print each answer token's log-probability with this many of the most likely "
                  "tokens (0 to 20), from the distribution it was drawn from")
      ->check(CLI::Range(0, 20));
  cmd->callback([o, cmd] { Run(*o, cmd); });
}

}  // namespace qwenvl::cli
