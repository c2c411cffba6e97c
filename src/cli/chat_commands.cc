#include "cli/chat_commands.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

namespace qwenvl::cli::chat {
namespace {

constexpr size_t kMaxPathBytes = 4096;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (Lower(s[s.size() - suffix.size() + i]) != suffix[i]) return false;
  return true;
}

// The first word and the trimmed rest.
std::pair<std::string_view, std::string_view> SplitWord(std::string_view s) {
  s = Trim(s);
  size_t end = 0;
  while (end < s.size() && !IsBlank(s[end])) ++end;
  return {s.substr(0, end), Trim(s.substr(end))};
}

template <typename T>
std::optional<T> ParseInteger(std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<float> ParseFloat(std::string_view text) {
  float value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

template <typename T>
std::string Show(const std::optional<T>& v) {
  if (!v) return "(model default)";
  if constexpr (std::is_floating_point_v<T>) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(*v));
    return buf;
  } else {
    return std::to_string(*v);
  }
}

}  // namespace

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

Command ParseCommand(std::string_view line) {
  line = Trim(line);
  Command c;
  if (line.empty() || line[0] != '/') return c;
  const auto [word, rest] = SplitWord(line);
  c.name = std::string(word);
  c.argument = std::string(rest);
  static constexpr std::array<std::pair<std::string_view, CommandKind>, 14> kNames{{
      {"/help", CommandKind::kHelp},
      {"/?", CommandKind::kHelp},
      {"/image", CommandKind::kImage},
      {"/video", CommandKind::kVideo},
      {"/system", CommandKind::kSystem},
      {"/set", CommandKind::kSet},
      {"/save", CommandKind::kSave},
      {"/load", CommandKind::kLoad},
      {"/reset", CommandKind::kReset},
      {"/clear", CommandKind::kReset},
      {"/quit", CommandKind::kQuit},
      {"/bye", CommandKind::kQuit},
      {"/exit", CommandKind::kQuit},
  }};
  c.kind = CommandKind::kUnknown;
  for (const auto& [name, kind] : kNames)
    if (!name.empty() && word == name) c.kind = kind;
  return c;
}

PathList ParsePaths(std::string_view text, std::string_view home, size_t max_paths) {
  PathList out;
  std::string current;
  bool in_word = false;
  auto finish = [&]() -> bool {
    if (!in_word) return true;
    in_word = false;
    if (current.empty()) {
      out.error = "an empty path";
      return false;
    }
    if (out.paths.size() >= max_paths) {
      out.error = "more than " + std::to_string(max_paths) + " paths";
      return false;
    }
    out.paths.push_back(std::move(current));
    current.clear();
    return true;
  };
  auto add = [&](char c) -> bool {
    if (c == '\0') {
      out.error = "a path cannot hold a NUL byte";
      return false;
    }
    if (current.size() >= kMaxPathBytes) {
      out.error = "a path longer than " + std::to_string(kMaxPathBytes) + " bytes";
      return false;
    }
    current.push_back(c);
    return true;
  };
  size_t i = 0;
  while (i < text.size() && out.error.empty()) {
    const char c = text[i];
    if (IsBlank(c)) {
      if (!finish()) break;
      ++i;
      continue;
    }
    if (!in_word) {
      in_word = true;
      // `~` alone or `~/...`, unquoted: the home folder.
      if (c == '~' && (i + 1 == text.size() || text[i + 1] == '/' || IsBlank(text[i + 1]))) {
        if (home.empty()) {
          out.error = "~ cannot be expanded: HOME is not set";
          break;
        }
        for (char h : home)
          if (!add(h)) break;
        ++i;
        continue;
      }
    }
    if (c == '\'' || c == '"') {
      // In "...", \" and \\ are escapes: look for the closing quote past them.
      size_t j = i + 1;
      bool closed = false;
      while (j < text.size()) {
        if (c == '"' && text[j] == '\\' && j + 1 < text.size() &&
            (text[j + 1] == '"' || text[j + 1] == '\\')) {
          if (!add(text[j + 1])) break;
          j += 2;
          continue;
        }
        if (text[j] == c) {
          closed = true;
          break;
        }
        if (!add(text[j])) break;
        ++j;
      }
      if (!out.error.empty()) break;
      if (!closed) {
        out.error = std::string("an unterminated ") + (c == '"' ? "\"" : "'") + " quote";
        break;
      }
      i = j + 1;
      continue;
    }
    if (c == '\\' && i + 1 < text.size()) {
      if (!add(text[i + 1])) break;
      i += 2;
      continue;
    }
    if (!add(c)) break;
    ++i;
  }
  if (out.error.empty()) finish();
  if (out.error.empty() && out.paths.empty()) out.error = "no path given";
  if (!out.error.empty()) out.paths.clear();
  return out;
}

bool HasImageExtension(std::string_view path) {
  for (std::string_view ext : {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
    if (EndsWithNoCase(path, ext)) return true;
  return false;
}

void MultilineReader::Clear() {
  open_ = false;
  too_long_ = false;
  text_.clear();
}

MultilineReader::Outcome MultilineReader::Feed(std::string_view line) {
  static constexpr std::string_view kQuotes = R"(""")";
  Outcome out;
  if (!open_) {
    if (line.substr(0, kQuotes.size()) != kQuotes) {
      if (line.size() > kMaxBytes) return {Status::kTooLong, {}};
      return {Status::kMessage, std::string(line)};
    }
    line.remove_prefix(kQuotes.size());
    open_ = true;
    text_.clear();
    // `"""text"""` (the closing quotes after the opening ones) is a message of one line.
    if (line.size() >= kQuotes.size() && line.substr(line.size() - kQuotes.size()) == kQuotes) {
      open_ = false;
      line.remove_suffix(kQuotes.size());
      if (line.size() > kMaxBytes) return {Status::kTooLong, {}};
      return {Status::kMessage, std::string(line), true};
    }
    if (line.size() >= kMaxBytes) {
      too_long_ = true;
      return out;
    }
    text_.append(line);
    text_.push_back('\n');
    return out;
  }
  const bool closes =
      line.size() >= kQuotes.size() && line.substr(line.size() - kQuotes.size()) == kQuotes;
  if (closes) line.remove_suffix(kQuotes.size());
  // Over the limit: the rest of the message is skipped up to its closing quotes, so that none of
  // its lines is taken for a message or a command.
  if (too_long_ || text_.size() + line.size() + 1 > kMaxBytes) {
    too_long_ = true;
    text_.clear();
    if (!closes) return out;
    Clear();
    return {Status::kTooLong, {}};
  }
  text_.append(line);
  if (!closes) {
    text_.push_back('\n');
    return out;
  }
  out.status = Status::kMessage;
  out.quoted = true;
  out.text = std::move(text_);
  Clear();
  return out;
}

std::string ApplySetting(std::string_view argument, const SamplingParams& defaults,
                         SamplingParams& s, int64_t max_tokens_limit) {
  // Plain variables, not structured bindings: the lambda below captures them (clang 14).
  std::string_view name, rest, value, extra;
  std::tie(name, rest) = SplitWord(argument);
  if (name == "parameter") std::tie(name, rest) = SplitWord(rest);
  std::tie(value, extra) = SplitWord(rest);
  if (name.empty()) return "usage: /set NAME VALUE (see /set for the names)";
  if (value.empty()) return "/set " + std::string(name) + ": a value is missing";
  if (!extra.empty()) return "/set " + std::string(name) + ": one value expected";
  const bool unset = value == "default";
  const std::string what = "/set " + std::string(name) + " " + std::string(value) + ": ";
  auto set_float = [&](std::optional<float>& field, const std::optional<float>& initial, float lo,
                       float hi, bool lo_open, const char* range) -> std::string {
    if (unset) return field = initial, "";
    const auto v = ParseFloat(value);
    if (!v || *v > hi || *v < lo || (lo_open && *v == lo)) return what + "expected " + range;
    field = *v;
    return "";
  };
  if (name == "temperature")
    return set_float(s.temperature, defaults.temperature, 0, 100, false, "0 <= t <= 100");
  if (name == "top_p") return set_float(s.top_p, defaults.top_p, 0, 1, true, "0 < top_p <= 1");
  if (name == "min_p") return set_float(s.min_p, defaults.min_p, 0, 1, false, "0 <= min_p <= 1");
  if (name == "repetition_penalty")
    return set_float(s.repetition_penalty, defaults.repetition_penalty, 0, 100, true,
                     "0 < repetition_penalty <= 100");
  if (name == "top_k") {
    if (unset) return s.top_k = defaults.top_k, "";
    const auto v = ParseInteger<int>(value);
    if (!v || *v < 0 || *v > (1 << 20)) return what + "expected an integer 0 <= top_k <= 1048576";
    s.top_k = *v;
    return "";
  }
  if (name == "seed") {
    if (unset) return s.seed = defaults.seed, "";
    const auto v = ParseInteger<uint64_t>(value);
    if (!v) return what + "expected an integer 0 <= seed < 2^64";
    s.seed = *v;
    return "";
  }
  if (name == "max_tokens" || name == "num_predict") {
    if (unset) return s.max_new_tokens = defaults.max_new_tokens, "";
    const auto v = ParseInteger<int64_t>(value);
    if (!v || *v < 1 || *v > max_tokens_limit)
      return what + "expected an integer 1 <= max_tokens <= " + std::to_string(max_tokens_limit);
    s.max_new_tokens = *v;
    return "";
  }
  return "/set: unknown option '" + std::string(name) +
         "' (temperature, top_p, top_k, min_p, max_tokens, seed, repetition_penalty)";
}

std::string DescribeSettings(const SamplingParams& s) {
  std::string out;
  out += "temperature         " + Show(s.temperature) + "\n";
  out += "top_p               " + Show(s.top_p) + "\n";
  out += "top_k               " + Show(s.top_k) + "\n";
  out += "min_p               " + Show(s.min_p) + "\n";
  out += "repetition_penalty  " + Show(s.repetition_penalty) + "\n";
  out += "seed                " + Show(s.seed) + "\n";
  out += "max_tokens          " + std::to_string(s.max_new_tokens) + "\n";
  return out;
}

}  // namespace qwenvl::cli::chat
