// libFuzzer target for the OpenAI request parser (src/server/openai_schema.cc): any byte string
// as a POST /v1/chat/completions body must give either a request within the schema's limits or
// an ApiError whose JSON form the server can send; another exception, a crash, a sanitizer report
// or a leftover temporary file is a bug. Local files and remote URLs are off, so only data: URIs
// are decoded; video frames given as data URIs are written as the server writes them, into a
// private temporary folder (on /dev/shm where there is one, so the runs stay off the disk).
// Seeds: fuzz/corpus/openai_schema/.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "server/api_error.h"
#include "server/openai_schema.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;
using qwenvl::ContentPart;
using qwenvl::Media;

fs::path& TempDir() {
  static fs::path dir;
  return dir;
}

qwenvl::server::SchemaOptions Options() {
  qwenvl::server::SchemaOptions o;
  o.model_name = "qwen";
  o.context_length = 4096;
  o.max_media_items = 4;
  o.max_image_pixels = 1 << 20;
  return o;  // media: local files and remote URLs off, no fetch_url
}

bool InRange(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

template <typename T>
bool InRange(const std::optional<T>& v, T lo, T hi) {
  return !v || (*v >= lo && *v <= hi);
}

// What the parser promises about a request it accepted.
void CheckAccepted(const qwenvl::server::ChatRequest& chat,
                   const qwenvl::server::SchemaOptions& options) {
  const qwenvl::SamplingParams& s = chat.request.sampling;
  QWENVL_CHECK(s.max_new_tokens >= 1 && s.max_new_tokens <= options.context_length);
  QWENVL_CHECK(!s.temperature || InRange(*s.temperature, 0, 2));
  QWENVL_CHECK(!s.top_p || (InRange(*s.top_p, 0, 1) && *s.top_p > 0));
  QWENVL_CHECK(InRange(s.top_k, 0, 1 << 20));
  QWENVL_CHECK(!s.min_p || InRange(*s.min_p, 0, 1));
  QWENVL_CHECK(!s.repetition_penalty || InRange(*s.repetition_penalty, 0.01f, 10));
  QWENVL_CHECK(InRange(s.presence_penalty, -2, 2) && InRange(s.frequency_penalty, -2, 2));
  QWENVL_CHECK(s.stop.size() <= 16);
  QWENVL_CHECK(s.logprobs >= -1 && s.logprobs <= 20);
  QWENVL_CHECK(chat.n >= 1 && chat.n <= options.max_choices);
  QWENVL_CHECK(!chat.request.messages.empty());
  int media_count = 0;
  for (const qwenvl::Message& m : chat.request.messages) {
    QWENVL_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant");
    for (const ContentPart& part : m.content) {
      if (part.type != ContentPart::Type::kMedia) continue;
      ++media_count;
      const Media& media = part.media;
      const int64_t max_px = options.max_image_pixels;
      QWENVL_CHECK(InRange<int64_t>(media.min_pixels, 1, max_px));
      QWENVL_CHECK(InRange<int64_t>(media.max_pixels, 1, max_px));
      QWENVL_CHECK(!media.min_pixels || !media.max_pixels ||
                   *media.min_pixels <= *media.max_pixels);
      QWENVL_CHECK(InRange<int64_t>(media.resized_height, 1, 32768));
      QWENVL_CHECK(InRange<int64_t>(media.resized_width, 1, 32768));
      QWENVL_CHECK(!media.fps || InRange(*media.fps, 1e-3, 240));
      QWENVL_CHECK(InRange<int64_t>(media.nframes, 2, 768));
      QWENVL_CHECK(InRange<int64_t>(media.min_frames, 2, 768));
      QWENVL_CHECK(InRange<int64_t>(media.max_frames, 2, 768));
      QWENVL_CHECK(InRange<int64_t>(media.total_pixels, 1, max_px * 768));
      // Nothing may come from a local path: every source is a data: URI.
      QWENVL_CHECK(media.path.empty());
      if (media.frame_paths.empty()) {
        QWENVL_CHECK(!media.bytes.empty());
      } else {
        QWENVL_CHECK(media.kind == Media::Kind::kVideo && media.bytes.empty());
        QWENVL_CHECK(media.frame_paths.size() >= 2 && media.frame_paths.size() <= 768);
        for (const std::string& frame : media.frame_paths) {
          QWENVL_CHECK(fs::path(frame).string().starts_with(TempDir().string()));
          QWENVL_CHECK(fs::is_regular_file(frame));
        }
      }
    }
  }
  QWENVL_CHECK(media_count <= options.max_media_items);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::error_code ec;
  const fs::path base =
      fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  TempDir() = base / ("qwenvl-schema-fuzz-" + std::to_string(getpid()));
  fs::create_directories(TempDir());
  setenv("TMPDIR", TempDir().c_str(), 1);  // where TempFiles puts a request's frames
  std::atexit([] {
    std::error_code ignored;
    fs::remove_all(TempDir(), ignored);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const qwenvl::server::SchemaOptions options = Options();
  try {
    const qwenvl::server::ChatRequest chat = qwenvl::server::ParseChatRequest(body, options);
    CheckAccepted(chat, options);
  } catch (const qwenvl::server::ApiError& e) {
    QWENVL_CHECK(e.status() == 400 || e.status() == 404);
    // The server sends this as the response body: it must serialize (valid UTF-8 included).
    (void)e.ToJson().dump();
  }
  // A request's frame files go with it, accepted or not.
  QWENVL_CHECK(fs::is_empty(TempDir()));
  return 0;
}
