#include "cli/chat_transcript.h"

#include <nlohmann/json.hpp>

#include "qwenvl/error.h"

namespace qwenvl::cli::chat {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "qwenvl-chat";
constexpr int kVersion = 1;

[[noreturn]] void Fail(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, (where.empty() ? "" : where + ": ") + what);
}

const std::string& ReadString(const json& j, const std::string& where) {
  if (!j.is_string()) Fail(where, "expected a string");
  return j.get_ref<const std::string&>();
}

std::vector<Attachment> ReadMedia(const json& m, const char* key, Media::Kind kind,
                                  const std::string& where) {
  std::vector<Attachment> out;
  const auto it = m.find(key);
  if (it == m.end() || it->is_null()) return out;
  const std::string here = where + "." + key;
  if (!it->is_array()) Fail(here, "expected a list of paths");
  if (it->size() > kMaxMediaPerTurn)
    Fail(here, "more than " + std::to_string(kMaxMediaPerTurn) + " items");
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string item = here + "[" + std::to_string(i) + "]";
    const std::string& path = ReadString((*it)[i], item);
    if (path.empty()) Fail(item, "an empty path");
    if (path.find('\0') != std::string::npos) Fail(item, "a path cannot hold a NUL byte");
    out.push_back({kind, path});
  }
  return out;
}

}  // namespace

std::string TranscriptToJson(const Transcript& t) {
  json messages = json::array();
  for (const Turn& turn : t.turns) {
    json m = {{"role", turn.role}, {"content", turn.text}};
    json images = json::array(), videos = json::array();
    for (const Attachment& a : turn.media)
      (a.kind == Media::Kind::kImage ? images : videos).push_back(a.path);
    if (!images.empty()) m["images"] = std::move(images);
    if (!videos.empty()) m["videos"] = std::move(videos);
    messages.push_back(std::move(m));
  }
  json doc = {{"format", kFormat}, {"version", kVersion}};
  if (t.system) doc["system"] = *t.system;
  doc["messages"] = std::move(messages);
  // Invalid UTF-8 in an answer (a model can cut a character) is written as U+FFFD, not refused.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Transcript TranscriptFromJson(std::string_view text) {
  if (text.size() > kMaxTranscriptBytes)
    Fail("", "larger than " + std::to_string(kMaxTranscriptBytes >> 20) + " MiB");
  const json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) Fail("", "not valid JSON");
  if (!doc.is_object()) Fail("", "expected a JSON object");
  const auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() || *format != kFormat)
    Fail("format", "expected \"qwenvl-chat\" (not a conversation saved by qwenvl chat)");
  const auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || *version != kVersion)
    Fail("version", "expected " + std::to_string(kVersion));
  Transcript t;
  if (const auto s = doc.find("system"); s != doc.end() && !s->is_null())
    t.system = ReadString(*s, "system");
  const auto messages = doc.find("messages");
  if (messages == doc.end() || !messages->is_array()) Fail("messages", "expected a list");
  if (messages->size() > kMaxTranscriptTurns)
    Fail("messages", "more than " + std::to_string(kMaxTranscriptTurns) + " messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) Fail(where, "expected an object");
    Turn turn;
    const auto role = m.find("role");
    if (role == m.end()) Fail(where + ".role", "missing");
    turn.role = ReadString(*role, where + ".role");
    if (turn.role != "user" && turn.role != "assistant")
      Fail(where + ".role", "expected \"user\" or \"assistant\", not \"" + turn.role + "\"");
    const auto content = m.find("content");
    if (content == m.end()) Fail(where + ".content", "missing");
    turn.text = ReadString(*content, where + ".content");
    turn.media = ReadMedia(m, "images", Media::Kind::kImage, where);
    auto videos = ReadMedia(m, "videos", Media::Kind::kVideo, where);
    if (turn.media.size() + videos.size() > kMaxMediaPerTurn)
      Fail(where, "more than " + std::to_string(kMaxMediaPerTurn) + " pictures and videos");
    turn.media.insert(turn.media.end(), videos.begin(), videos.end());
    if (turn.role == "assistant" && !turn.media.empty())
      Fail(where, "an assistant message cannot hold pictures or videos");
    t.turns.push_back(std::move(turn));
  }
  return t;
}

}  // namespace qwenvl::cli::chat
