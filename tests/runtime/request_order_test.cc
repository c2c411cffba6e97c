// Randomized differential test of request order on the tiny random checkpoint. Seeded sequences of
// requests (pictures and videos at small pixel budgets, text-only turns, multi-turn conversations
// that extend, branch or drop the pictures of earlier ones, the same picture at another budget or
// as bytes, another picture with the same question, identical repeats, concurrent submissions and
// cancellations) go through long-lived engines, by Engine::Submit and by Session::Generate. Every
// answer must be the greedy answer that a freshly loaded engine gives to the same request alone:
// whatever the engine kept from earlier requests (the KV prefix of a sequence, prepared media,
// vision features, the choice of sequence) must never change an answer. A cancelled answer must be
// a prefix of that answer.
//
// QWENVL_ORDER_SEED=N replays the sequences of seed N (printed at the start and in every failure);
// QWENVL_ORDER_SCALE=K plays K times as many sequences (long local runs).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/test_checkpoint.h"
#include "media/draw.h"
#include "qwenvl/engine.h"
#include "util/mapped_file.h"

namespace qwenvl {
namespace {

namespace fs = std::filesystem;
using Rng = std::mt19937_64;

constexpr int64_t kContext = 2048;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kBaseSequencesPerEngine = 6;  // the kernels and the sampler run ~9x slower there
#else
constexpr int kBaseSequencesPerEngine = 40;
#endif
constexpr size_t kFreshLoadEvery = 50;
constexpr std::chrono::seconds kRoundLimit(300);

// Special token ids of the tiny checkpoint (it uses the published vocabulary).
constexpr TokenId kVisionStart = 151652;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : fallback;
}

int64_t Pick(Rng& rng, int64_t lo, int64_t hi) {  // uniform in [lo, hi]
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
bool Chance(Rng& rng, double p) { return std::bernoulli_distribution(p)(rng); }
template <class T>
const T& OneOf(Rng& rng, const std::vector<T>& v) {
  return v[static_cast<size_t>(Pick(rng, 0, static_cast<int64_t>(v.size()) - 1))];
}

uint64_t Fnv(const std::vector<uint8_t>& bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (uint8_t b : bytes) h = (h ^ b) * 0x100000001B3ull;
  return h;
}

// A new seed every run (each run plays other sequences) unless QWENVL_ORDER_SEED replays one.
uint64_t RunSeed() {
  static const uint64_t seed = static_cast<uint64_t>(
      EnvInt("QWENVL_ORDER_SEED", static_cast<int64_t>(std::random_device{}() & 0x7fffffff)));
  return seed;
}

// One line per request, exact (the memo key of reference answers) and readable (failure messages).
std::string Describe(const Media& m) {
  std::string s = m.kind == Media::Kind::kImage ? "image " : "video ";
  if (!m.path.empty()) s += fs::path(m.path).filename().string();
  if (!m.bytes.empty())
    s += "bytes#" + std::to_string(m.bytes.size()) + "/" + std::to_string(Fnv(m.bytes));
  for (size_t i = 0; i < m.frame_paths.size(); ++i)
    s += (i == 0 ? "[" : ",") + fs::path(m.frame_paths[i]).filename().string() +
         (i + 1 == m.frame_paths.size() ? "]" : "");
  if (m.min_pixels) s += " min=" + std::to_string(*m.min_pixels);
  if (m.max_pixels) s += " max=" + std::to_string(*m.max_pixels);
  if (m.nframes) s += " nframes=" + std::to_string(*m.nframes);
  if (m.fps) s += " fps=" + std::to_string(*m.fps);
  return s;
}

std::string Describe(const Request& r) {
  std::string s = "max_new_tokens=" + std::to_string(r.sampling.max_new_tokens);
  if (r.system_prompt) s += " system=\"" + *r.system_prompt + "\"";
  if (r.add_vision_id) s += " add_vision_id";
  for (const Message& m : r.messages) {
    s += " | " + m.role + ":";
    for (const ContentPart& p : m.content)
      s += p.type == ContentPart::Type::kText ? " \"" + p.text + "\""
                                              : " <" + Describe(p.media) + ">";
  }
  return s;
}

size_t MediaCount(const Request& r) {
  size_t n = 0;
  for (const Message& m : r.messages)
    for (const ContentPart& p : m.content) n += p.type == ContentPart::Type::kMedia;
  return n;
}

size_t UserTurns(const Request& r) {
  return static_cast<size_t>(std::count_if(r.messages.begin(), r.messages.end(),
                                           [](const Message& m) { return m.role == "user"; }));
}

template <class T>
size_t CommonPrefix(const std::vector<T>& a, const std::vector<T>& b) {
  const size_t n = std::min(a.size(), b.size());
  return static_cast<size_t>(std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
}

template <class T>
bool IsPrefix(const T& prefix, const T& whole) {
  return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

Media ImageFile(const std::string& path) {
  Media m;
  m.path = path;
  return m;
}
Media VideoFile(const std::string& path) {
  Media m;
  m.kind = Media::Kind::kVideo;
  m.path = path;
  return m;
}
Media FrameList(std::vector<std::string> frame_paths) {
  Media m;
  m.kind = Media::Kind::kVideo;
  m.frame_paths = std::move(frame_paths);
  m.fps = 2.0;
  return m;
}
Message UserMessage() {
  Message m;
  m.role = "user";
  return m;
}

// The pictures and videos requests draw from, written once per test run.
struct MediaPool {
  // No budget set: the generator picks one per use.
  std::vector<Media> photos;    // the test photos (decoding them at full size takes longest)
  std::vector<Media> pictures;  // generated ones, small
  std::vector<Media> videos;
};

// A picture of random blocks of colour, so that every generated picture encodes differently.
media::RgbImage RandomPicture(Rng& rng, int width, int height) {
  media::RgbImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  const auto colour = [&] { return static_cast<uint8_t>(Pick(rng, 0, 255)); };
  const uint8_t bg[3] = {colour(), colour(), colour()};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = bg[i % 3];
  for (int block = 0; block < 6; ++block) {
    const int x0 = static_cast<int>(Pick(rng, 0, width - 1)),
              y0 = static_cast<int>(Pick(rng, 0, height - 1));
    const int x1 = static_cast<int>(Pick(rng, x0, width - 1)),
              y1 = static_cast<int>(Pick(rng, y0, height - 1));
    const uint8_t c[3] = {colour(), colour(), colour()};
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x)
        for (int k = 0; k < 3; ++k) img.pixels[(static_cast<size_t>(y) * width + x) * 3 + k] = c[k];
  }
  return img;
}

MediaPool MakeMediaPool(const fs::path& dir) {
  MediaPool pool;
  for (const auto& entry : fs::directory_iterator(QWENVL_TEST_DATA "/preprocess/photos")) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") continue;
    pool.photos.push_back(ImageFile(entry.path().string()));
  }
  std::sort(pool.photos.begin(), pool.photos.end(),
            [](const Media& a, const Media& b) { return a.path < b.path; });
  // Fixed pictures (not from the run's seed), so that a seed replays the same requests.
  Rng rng(20261201);
  const int sizes[][2] = {{20, 20}, {64, 48}, {33, 90}, {160, 120}, {100, 40}, {57, 57}};
  int n = 0;
  for (const auto& wh : sizes) {
    const std::string path = (dir / ("picture" + std::to_string(n++) + ".png")).string();
    media::WritePng(path, RandomPicture(rng, wh[0], wh[1]));
    pool.pictures.push_back(ImageFile(path));
  }
  // One picture only ever given as encoded bytes.
  const std::string bytes_path = (dir / "bytes_only.png").string();
  media::WritePng(bytes_path, RandomPicture(rng, 70, 30));
  const std::string bytes = ReadFileToString(bytes_path);
  fs::remove(bytes_path);
  Media bytes_only;
  bytes_only.bytes.assign(bytes.begin(), bytes.end());
  pool.pictures.push_back(bytes_only);

  // Frame lists (a video given as pictures of one size).
  const int frame_lists[][3] = {{2, 64, 48}, {3, 56, 84}, {4, 40, 40}};
  int list = 0;
  for (const auto& f : frame_lists) {
    std::vector<std::string> frames;
    for (int i = 0; i < f[0]; ++i) {
      frames.push_back(
          (dir / ("clip" + std::to_string(list) + "_frame" + std::to_string(i) + ".png")).string());
      media::WritePng(frames.back(), RandomPicture(rng, f[1], f[2]));
    }
    pool.videos.push_back(FrameList(frames));
    ++list;
  }
  // A video file (1 s at 10 fps, 64x48) and the test frames of the same clip as a frame list.
  pool.videos.push_back(VideoFile(QWENVL_TEST_DATA "/video/h264.mkv"));
  pool.videos.push_back(
      FrameList({QWENVL_TEST_DATA "/video/frame0.png", QWENVL_TEST_DATA "/video/frame1.png",
                 QWENVL_TEST_DATA "/video/frame2.png"}));
  pool.videos.push_back(VideoFile(QWENVL_TEST_DATA "/video/testsrc-4s.mp4"));
  pool.videos.back().nframes = 4;
  return pool;
}

// Pixel budgets small enough that the vision encoder is quick: 4 to 32 vision tokens a picture.
const std::vector<int64_t> kImageBudgets = {3136, 6272, 12544, 25088};
const std::vector<int64_t> kVideoBudgets = {3136, 6272};

const std::vector<std::string> kQuestions = {
    "What is in this picture?",
    "Describe it.",
    "How many shapes are there?",
    "What colour is the largest one?",
    "Compare them.",
    "Tell me more.",
    "And now?",
    "Why?",
    "Read the text, please.",
    "What happens in the video?",
    "Qu'est-ce que c'est ? 这是什么？",
    "Locate every object, output bbox coordinates in JSON.",
    "Answer with one word.",
    "Please write a long and careful description of every single detail you can find here, "
    "including the colours, the positions, the sizes and anything unusual about the scene."};

const std::vector<std::string> kSystemPrompts = {"You are a helpful assistant.", "Answer briefly."};

// Builds requests, each from nothing or from an earlier one and its reference answer (the
// assistant turn of an extension).
class RequestMaker {
 public:
  RequestMaker(Rng& rng, const MediaPool& pool) : rng_(rng), pool_(pool) {}

  Media RandomImage() {
    return WithBudget(OneOf(rng_, Chance(rng_, 0.3) ? pool_.photos : pool_.pictures));
  }
  Media RandomMedia() {
    return Chance(rng_, 0.75) ? RandomImage() : WithBudget(OneOf(rng_, pool_.videos));
  }
  Media WithBudget(Media m) {
    m.max_pixels = OneOf(rng_, m.kind == Media::Kind::kImage ? kImageBudgets : kVideoBudgets);
    if (m.kind == Media::Kind::kVideo) m.min_pixels = 3136;  // the video default is far larger
    return m;
  }

  Message UserTurn(int max_media) {
    Message m = UserMessage();
    const int media = static_cast<int>(Pick(rng_, 0, max_media));
    const bool text_first = Chance(rng_, 0.25);
    if (text_first) m.content.push_back({ContentPart::Type::kText, OneOf(rng_, kQuestions), {}});
    for (int i = 0; i < media; ++i)
      m.content.push_back({ContentPart::Type::kMedia, {}, RandomMedia()});
    if (!text_first || Chance(rng_, 0.2))
      m.content.push_back({ContentPart::Type::kText, OneOf(rng_, kQuestions), {}});
    return m;
  }

  Request Fresh() {
    Request r;
    r.sampling.temperature = 0.0f;
    r.sampling.repetition_penalty = 1.0f;
    r.sampling.max_new_tokens = Pick(rng_, 4, 10);
    if (Chance(rng_, 0.2)) r.system_prompt = OneOf(rng_, kSystemPrompts);
    r.add_vision_id = Chance(rng_, 0.1);
    r.messages.push_back(UserTurn(Chance(rng_, 0.25) ? 0 : 3));
    return r;
  }

  // Another request made from `base`. Conversations stay small: at most 4 user turns, 6 media.
  Request Derive(const Request& base, const std::string& base_answer) {
    Request r = base;
    std::vector<ContentPart*> media;
    for (Message& m : r.messages)
      for (ContentPart& p : m.content)
        if (p.type == ContentPart::Type::kMedia) media.push_back(&p);
    switch (Pick(rng_, 0, 9)) {
      case 0:  // identical
        return r;
      case 1:  // another picture (or video) in the place of one, same question
        if (media.empty()) break;
        {
          ContentPart& p = *media[static_cast<size_t>(Pick(rng_, 0, media.size() - 1))];
          const std::optional<int64_t> budget = p.media.max_pixels;
          p.media = p.media.kind == Media::Kind::kImage ? RandomImage()
                                                        : WithBudget(OneOf(rng_, pool_.videos));
          if (Chance(rng_, 0.7)) p.media.max_pixels = budget;
        }
        return r;
      case 2:  // the same picture at another budget
        if (media.empty()) break;
        {
          ContentPart& p = *media[static_cast<size_t>(Pick(rng_, 0, media.size() - 1))];
          const auto& budgets = p.media.kind == Media::Kind::kImage ? kImageBudgets : kVideoBudgets;
          p.media.max_pixels = OneOf(rng_, budgets);
        }
        return r;
      case 3:  // a picture file given as its bytes (the same content)
        for (ContentPart* p : media)
          if (p->media.kind == Media::Kind::kImage && !p->media.path.empty()) {
            const std::string bytes = ReadFileToString(p->media.path);
            p->media.path.clear();
            p->media.bytes.assign(bytes.begin(), bytes.end());
            return r;
          }
        break;
      case 4:  // the pictures dropped, the words kept
        if (media.empty()) break;
        for (Message& m : r.messages) {
          std::erase_if(m.content,
                        [](const ContentPart& p) { return p.type == ContentPart::Type::kMedia; });
          if (m.content.empty())
            m.content.push_back({ContentPart::Type::kText, "(no picture)", {}});
        }
        return r;
      case 5:  // back to an earlier user turn (a branch of the conversation)
        if (UserTurns(r) < 2) break;
        {
          const size_t keep = static_cast<size_t>(Pick(rng_, 1, UserTurns(r) - 1));
          size_t users = 0;
          for (size_t i = 0; i < r.messages.size(); ++i)
            if (r.messages[i].role == "user" && ++users == keep) {
              r.messages.resize(i + 1);
              break;
            }
        }
        return r;
      case 6:  // another answer length
        r.sampling.max_new_tokens = Pick(rng_, 4, 10);
        return r;
      default:
        break;
    }
    return Extend(base, base_answer);
  }

  // The conversation goes on: the answer, then a new user turn (text, or more pictures).
  Request Extend(const Request& base, const std::string& base_answer) {
    if (UserTurns(base) >= 4 || MediaCount(base) >= 6) return Fresh();
    Request r = base;
    r.messages.push_back(Message::Text("assistant", base_answer));
    r.messages.push_back(UserTurn(Chance(rng_, 0.5) ? 0 : 2));
    r.sampling.max_new_tokens = Pick(rng_, 4, 10);
    return r;
  }

 private:
  Rng& rng_;
  const MediaPool& pool_;
};

// What came back for one played request.
struct Outcome {
  std::optional<Result> result;
  std::string error;  // empty when none
  std::string streamed;
  int pieces = 0;
  bool cancel_requested = false;
  bool done = false;
};

enum class CancelMode {
  kNone,
  kStreamReturnsFalse,  // the text callback returns false at its n-th piece
  kHandleAfterPiece,    // RequestHandle::Cancel from its own n-th piece
  kRightAfterSubmit,    // usually still queued
  kByAnother,           // cancelled from another request's first piece (queued, mid-prefill, ...)
};

const char* CancelName(CancelMode m) {
  switch (m) {
    case CancelMode::kNone:
      return "none";
    case CancelMode::kStreamReturnsFalse:
      return "stream returns false";
    case CancelMode::kHandleAfterPiece:
      return "handle after piece";
    case CancelMode::kRightAfterSubmit:
      return "right after submit";
    case CancelMode::kByAnother:
      return "by another request";
  }
  return "?";
}

// Requests submitted together, reached by the scheduler's callbacks through a shared pointer.
// Submit may call a DoneCallback before it returns (a request refused up front), on the submitting
// thread while it holds the lock: hence a recursive mutex.
struct Group {
  struct Member {
    Request request;
    CancelMode cancel = CancelMode::kNone;
    int cancel_at_piece = 1;
    int cancels = -1;  // the member this one cancels at its first piece (that one's kByAnother)
    std::shared_ptr<RequestHandle> handle;
    Outcome outcome;
  };
  std::recursive_mutex mu;
  std::condition_variable_any cv;
  std::vector<Member> members;
  size_t done = 0;
};

// Submits every member; the callbacks record what comes back and carry out the cancellations.
// They wait for the last handle before they use one (the lock is held until then).
void SubmitAll(Engine& engine, const std::shared_ptr<Group>& group) {
  std::lock_guard<std::recursive_mutex> lock(group->mu);
  for (size_t i = 0; i < group->members.size(); ++i) {
    Group::Member& m = group->members[i];
    auto on_text = [group, i](std::string_view piece) {
      std::lock_guard<std::recursive_mutex> inner(group->mu);
      Group::Member& self = group->members[i];
      self.outcome.streamed.append(piece);
      ++self.outcome.pieces;
      if (self.cancels >= 0 && self.outcome.pieces == 1)
        group->members[static_cast<size_t>(self.cancels)].handle->Cancel();
      if (self.outcome.pieces >= self.cancel_at_piece) {
        if (self.cancel == CancelMode::kStreamReturnsFalse) return false;
        if (self.cancel == CancelMode::kHandleAfterPiece) self.handle->Cancel();
      }
      return true;
    };
    auto on_done = [group, i](const Result* r, const Error* e) {
      std::lock_guard<std::recursive_mutex> inner(group->mu);
      Outcome& o = group->members[i].outcome;
      if (r != nullptr) o.result = *r;
      if (e != nullptr) o.error = e->what();
      if (r == nullptr && e == nullptr) o.error = "done without a result or an error";
      if (o.done) o.error = "done twice";
      o.done = true;
      ++group->done;
      group->cv.notify_all();
    };
    m.handle = engine.Submit(m.request, on_text, on_done);
    if (m.cancel == CancelMode::kRightAfterSubmit) m.handle->Cancel();
  }
}

void WaitAll(Group& group) {
  std::unique_lock<std::recursive_mutex> lock(group.mu);
  group.cv.wait(lock, [&] { return group.done == group.members.size(); });
}

// Turns a hang of the engine (a deadlock) into a failure that names the round: a round still
// running after kRoundLimit aborts the process with its description, since a hung engine can be
// neither stopped nor destroyed.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Arm(std::string what) {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = std::move(what);
    deadline_ = std::chrono::steady_clock::now() + kRoundLimit;
    armed_ = true;
    cv_.notify_all();
  }
  void Disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      const auto deadline = deadline_;
      cv_.wait_until(lock, deadline);
      if (armed_ && !stop_ && deadline_ == deadline &&
          std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr, "[ request order ] a round ran for %lld s, the engine hangs: %s\n",
                     static_cast<long long>(kRoundLimit.count()), what_.c_str());
        std::abort();
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false, stop_ = false;
  std::thread thread_;
};

class RequestOrderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("qwenvl_request_order_" + std::to_string(getpid())));
    fs::create_directories(*dir_ / "media");
    io::WriteTestModel(io::GetTestModelPreset("tiny"), (*dir_ / "model").string(),
                       QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct");
    pool_ = new MediaPool(MakeMediaPool(*dir_ / "media"));
    references_ = new std::map<std::string, Result>();
    reference_engine_ = Engine::Load(Options(1, 128)).release();
  }
  static void TearDownTestSuite() {
    delete reference_engine_;
    delete references_;
    delete pool_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static EngineOptions Options(int max_parallel, int64_t prefill_chunk_tokens) {
    EngineOptions o;
    o.model_dir = (*dir_ / "model").string();
    o.threads = 2;
    // Exact float32 products: the bf16-rounding kernels (amx-bf16, bf16-dot) that "auto" picks on
    // some CPUs give a row other low bits in a piece of fewer than 8 rows (GEMV) than in a larger
    // one, so a reused prefix, which leaves a short piece to compute, could flip a near tie of
    // the random model; what these tests compare is what the engine keeps, not the kernels.
    o.kernels = "f32";
    o.context_length = kContext;
    o.max_parallel = max_parallel;
    o.prefill_chunk_tokens = prefill_chunk_tokens;
    return o;
  }

  // The greedy answer of an engine with nothing cached, once per distinct request. A fresh load
  // takes about a second here, too long for hundreds of references: the reference engine is loaded
  // once and forgets its media and vision caches before each request (Engine::Generate already
  // runs on a new sequence), which makes it a fresh engine; every kFreshLoadEvery-th reference is
  // also computed by a really fresh Engine::Load, to show the two agree.
  static const Result& Reference(const Request& r) {
    const std::string key = Describe(r);
    auto it = references_->find(key);
    if (it != references_->end()) return it->second;
    reference_engine_->ClearCaches();
    Result result;
    try {
      result = reference_engine_->Generate(r);
      if (references_->size() % kFreshLoadEvery == 0) {
        const Result fresh = Engine::Load(Options(1, 128))->Generate(r);
        EXPECT_EQ(fresh.tokens, result.tokens)
            << "a freshly loaded engine answers otherwise\n  " << key;
        EXPECT_EQ(fresh.prompt_ids, result.prompt_ids) << key;
      }
    } catch (const Error& e) {
      ADD_FAILURE() << "the reference engine failed: " << e.what() << "\n  request: " << key;
    }
    EXPECT_EQ(result.cached_prompt_tokens, 0) << key;
    return references_->emplace(key, std::move(result)).first->second;
  }

  void Play(const char* engine_name, int max_parallel, int64_t prefill_chunk_tokens);

  static fs::path* dir_;
  static MediaPool* pool_;
  static std::map<std::string, Result>* references_;
  static Engine* reference_engine_;
};
fs::path* RequestOrderTest::dir_ = nullptr;
MediaPool* RequestOrderTest::pool_ = nullptr;
std::map<std::string, Result>* RequestOrderTest::references_ = nullptr;
Engine* RequestOrderTest::reference_engine_ = nullptr;

// Counts of what was played, printed at the end of each test.
struct Tally {
  int sequences = 0, requests = 0, submitted = 0, session_turns = 0, cancelled = 0, with_media = 0,
      reused_prefix = 0, reused_vision = 0;
};

// Checks one outcome against the reference answer. `where` locates it in the run for the message.
void CheckOutcome(const Request& request, const Result& reference, const Outcome& got,
                  const std::string& where, Tally& tally) {
  const std::string what = where + "\n  request: " + Describe(request);
  ++tally.requests;
  if (MediaCount(request) > 0) ++tally.with_media;
  if (!got.error.empty()) {
    ADD_FAILURE() << "error \"" << got.error << "\"\n  " << what;
    return;
  }
  if (!got.result) {
    ADD_FAILURE() << "no answer\n  " << what;
    return;
  }
  const Result& r = *got.result;
  // Streaming stops with a cancellation; the result may hold the text of the cancelling token.
  EXPECT_TRUE(got.cancel_requested ? IsPrefix(got.streamed, r.text) : got.streamed == r.text)
      << "streamed \"" << got.streamed << "\", answer \"" << r.text << "\"\n  " << what;
  EXPECT_GE(r.cached_prompt_tokens, 0) << what;
  EXPECT_LE(r.cached_prompt_tokens, std::max<int64_t>(0, r.prompt_tokens - 1))
      << "at least one prompt token is computed\n  " << what;
  EXPECT_LE(r.cached_media, static_cast<int64_t>(MediaCount(request))) << what;
  if (r.cached_prompt_tokens > 0) ++tally.reused_prefix;
  if (r.cached_media > 0) ++tally.reused_vision;
  if (got.cancel_requested && r.finish_reason == FinishReason::kCancelled) {
    ++tally.cancelled;
    EXPECT_TRUE(IsPrefix(r.tokens, reference.tokens))
        << "cancelled answer \"" << r.text << "\" is not a prefix of \"" << reference.text
        << "\"\n  " << what;
    EXPECT_TRUE(IsPrefix(r.text, reference.text))
        << "cancelled answer \"" << r.text << "\" is not a prefix of \"" << reference.text
        << "\"\n  " << what;
    // Cancelled while queued: never prepared; later: the whole prompt was.
    EXPECT_TRUE(r.prompt_tokens == 0 || r.prompt_tokens == reference.prompt_tokens)
        << r.prompt_tokens << " prompt tokens, the reference has " << reference.prompt_tokens
        << "\n  " << what;
    return;
  }
  EXPECT_EQ(r.text, reference.text) << what;
  EXPECT_EQ(r.tokens, reference.tokens) << what;
  EXPECT_EQ(FinishReasonName(r.finish_reason),
            std::string(FinishReasonName(reference.finish_reason)))
      << what;
  EXPECT_EQ(r.completion_tokens, reference.completion_tokens) << what;
  EXPECT_EQ(r.prompt_tokens, reference.prompt_tokens) << what;
  EXPECT_EQ(r.prompt_ids, reference.prompt_ids) << what;
  ASSERT_EQ(r.media.size(), reference.media.size()) << what;
  for (size_t i = 0; i < r.media.size(); ++i) {
    EXPECT_EQ(r.media[i].tokens, reference.media[i].tokens) << "media " << i << "\n  " << what;
    EXPECT_EQ(r.media[i].resized_width, reference.media[i].resized_width) << what;
    EXPECT_EQ(r.media[i].resized_height, reference.media[i].resized_height) << what;
  }
}

// A sequence that still holds `previous` (its prompt, then the tokens of its answer) serves
// `current`: the reused prefix covers at least their common prompt up to its first vision block
// (the engine never starts the computed part inside one) and at most what the cache holds.
void CheckReuse(const Result& previous, const Result& current, const std::string& what) {
  std::vector<TokenId> held = previous.prompt_ids;
  held.insert(held.end(), previous.tokens.begin(), previous.tokens.end());
  const int64_t last = std::max<int64_t>(0, current.prompt_tokens - 1);
  const int64_t at_most = std::min<int64_t>(last, CommonPrefix(held, current.prompt_ids));
  int64_t at_least = std::min<int64_t>(last, CommonPrefix(previous.prompt_ids, current.prompt_ids));
  const auto vision =
      std::find(current.prompt_ids.begin(), current.prompt_ids.begin() + at_least, kVisionStart);
  at_least = vision - current.prompt_ids.begin();
  EXPECT_GE(current.cached_prompt_tokens, at_least)
      << "the cached prefix was not reused\n  " << what;
  EXPECT_LE(current.cached_prompt_tokens, at_most) << what;
}

void RequestOrderTest::Play(const char* engine_name, int max_parallel,
                            int64_t prefill_chunk_tokens) {
  const uint64_t seed = RunSeed();
  const int64_t sequences =
      kBaseSequencesPerEngine * std::max<int64_t>(1, EnvInt("QWENVL_ORDER_SCALE", 1));
  std::printf("[ request order ] %s: seed %llu, %lld sequences (QWENVL_ORDER_SEED=%llu replays)\n",
              engine_name, static_cast<unsigned long long>(seed), static_cast<long long>(sequences),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  Rng rng(seed * 2 + static_cast<uint64_t>(max_parallel));
  RequestMaker maker(rng, *pool_);
  const auto engine = Engine::Load(Options(max_parallel, prefill_chunk_tokens));
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::optional<Request>> session_request(2);
  std::vector<std::optional<Result>> session_result(2);
  for (int i = 0; i < 2; ++i) sessions.push_back(engine->NewSession());
  // The scheduler's only sequence (max_parallel 1) after a request played alone.
  std::optional<Result> slot_holds;

  std::vector<Request> played;  // earlier requests, the bases of new ones
  const auto next_request = [&]() -> Request {
    if (played.empty() || Chance(rng, 0.2)) return maker.Fresh();
    // Recent requests more often: conversations grow.
    const size_t back = std::min<size_t>(played.size() - 1, static_cast<size_t>(Pick(rng, 0, 7)));
    const Request& base = Chance(rng, 0.7) ? played[played.size() - 1 - back] : OneOf(rng, played);
    return maker.Derive(base, Reference(base).text);
  };
  const auto remember = [&](const Request& r) {
    played.push_back(r);
    if (played.size() > 64) played.erase(played.begin());
  };

  Tally tally;
  Watchdog watchdog;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t seq = 0; seq < sequences && !HasFailure(); ++seq) {
    ++tally.sequences;
    const int rounds = static_cast<int>(Pick(rng, 2, 4));
    for (int round = 0; round < rounds && !HasFailure(); ++round) {
      const std::string where = std::string(engine_name) + ", seed " + std::to_string(seed) +
                                ", sequence " + std::to_string(seq) + ", round " +
                                std::to_string(round);
      // A round: one submitted request alone (30 %), or 2 to 6 submitted together (60 %, half of
      // them while a session turn runs on this thread), or a session turn alone (10 %). A session
      // turn mostly continues, branches or changes that session's conversation.
      const int64_t kind = Pick(rng, 0, 9);
      const size_t group_size = kind <= 2   ? 1
                                : kind == 9 ? 0
                                            : static_cast<size_t>(Pick(rng, 2, 6));
      const bool session_turn = kind >= 6;

      auto group = std::make_shared<Group>();
      for (size_t i = 0; i < group_size; ++i) {
        Group::Member m;
        m.request = !group->members.empty() && Chance(rng, 0.15) ? group->members.back().request
                                                                 : next_request();
        Reference(m.request);
        const int64_t c = Pick(rng, 0, 39);
        m.cancel = c < 33   ? CancelMode::kNone
                   : c < 35 ? CancelMode::kStreamReturnsFalse
                   : c < 37 ? CancelMode::kHandleAfterPiece
                   : c < 38 ? CancelMode::kRightAfterSubmit
                            : CancelMode::kByAnother;
        m.cancel_at_piece = static_cast<int>(Pick(rng, 1, 4));
        if (m.cancel == CancelMode::kByAnother) {
          // An earlier member cancels this one once it streams (this one is then queued, in its
          // prefill or decoding); a member cancels one other at most.
          Group::Member& by =
              group->members.empty() ? m : group->members[static_cast<size_t>(Pick(rng, 0, i - 1))];
          if (&by == &m || by.cancels >= 0)
            m.cancel = CancelMode::kRightAfterSubmit;
          else
            by.cancels = static_cast<int>(i);
        }
        m.outcome.cancel_requested = m.cancel != CancelMode::kNone;
        group->members.push_back(std::move(m));
      }

      std::string plan = where;
      for (const Group::Member& m : group->members)
        plan += "\n  submitted (cancel: " + std::string(CancelName(m.cancel)) +
                "): " + Describe(m.request);
      watchdog.Arm(plan);
      SubmitAll(*engine, group);
      tally.submitted += static_cast<int>(group->members.size());

      if (session_turn) {
        const size_t s = static_cast<size_t>(Pick(rng, 0, 1));
        Request request;
        if (session_request[s] && Chance(rng, 0.75)) {
          const std::string& answer = Reference(*session_request[s]).text;
          request = Chance(rng, 0.6) ? maker.Extend(*session_request[s], answer)
                                     : maker.Derive(*session_request[s], answer);
        } else {
          request = next_request();
        }
        const Result& reference = Reference(request);
        watchdog.Arm(plan + "\n  session " + std::to_string(s) + ": " + Describe(request));
        Outcome outcome;
        const int cancel_at = Chance(rng, 0.1) ? static_cast<int>(Pick(rng, 1, 3)) : 0;
        outcome.cancel_requested = cancel_at > 0;
        try {
          outcome.result = sessions[s]->Generate(request, [&](std::string_view piece) {
            outcome.streamed.append(piece);
            return ++outcome.pieces != cancel_at;
          });
        } catch (const Error& e) {
          outcome.error = e.what();
        }
        const std::string what = where + ", session " + std::to_string(s) +
                                 (group->members.empty() ? "" : " (while submitted requests ran)");
        CheckOutcome(request, reference, outcome, what, tally);
        if (outcome.result && session_result[s])
          CheckReuse(*session_result[s], *outcome.result,
                     what + "\n  request: " + Describe(request));
        ++tally.session_turns;
        session_request[s] = request;
        session_result[s] = outcome.result;
        if (!outcome.result) session_request[s].reset();
        remember(request);
      }

      WaitAll(*group);
      watchdog.Disarm();
      for (size_t i = 0; i < group->members.size(); ++i) {
        Group::Member& m = group->members[i];
        const std::string what = where + ", submitted " + std::to_string(i + 1) + " of " +
                                 std::to_string(group->members.size()) +
                                 ", cancel: " + CancelName(m.cancel);
        CheckOutcome(m.request, Reference(m.request), m.outcome, what, tally);
        if (max_parallel == 1 && group->members.size() == 1 && slot_holds && m.outcome.result &&
            !m.outcome.cancel_requested)
          CheckReuse(*slot_holds, *m.outcome.result, what + "\n  request: " + Describe(m.request));
        remember(m.request);
        m.handle.reset();
      }
      // What the single sequence holds is known only after a request played alone to its end.
      if (!group->members.empty()) slot_holds.reset();
      if (group->members.size() == 1 && group->members[0].cancel == CancelMode::kNone)
        slot_holds = group->members[0].outcome.result;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[ request order ] %s: %d sequences, %d requests (%d submitted, %d session turns, %d with "
      "media, %d cancelled, %d reused a cached prefix, %d cached vision features), %zu distinct "
      "so far, %.1f s\n",
      engine_name, tally.sequences, tally.requests, tally.submitted, tally.session_turns,
      tally.with_media, tally.cancelled, tally.reused_prefix, tally.reused_vision,
      references_->size(), seconds);
  if (HasFailure()) {
    std::printf("[ request order ] replay with QWENVL_ORDER_SEED=%llu\n",
                static_cast<unsigned long long>(seed));
    return;
  }
  // The sequences exercised the caches they are meant to.
  EXPECT_GT(tally.reused_prefix, tally.requests / 2);
  EXPECT_GT(tally.reused_vision, 0);
}

// One sequence: each request waits for the one before it, so every request meets the cache that
// the one before left.
TEST_F(RequestOrderTest, EveryAnswerIsTheFreshAnswerWithOneSequence) {
  Play("max_parallel 1", 1, 128);
}

// Four sequences, batched decode steps, and prompts (pictures included) prefilled in pieces of 16
// tokens between the others' steps.
TEST_F(RequestOrderTest, EveryAnswerIsTheFreshAnswerWithFourSequences) {
  Play("max_parallel 4", 4, 16);
}

Request Greedy(Message user, int64_t max_new_tokens) {
  Request r;
  r.messages.push_back(std::move(user));
  r.sampling.temperature = 0.0f;
  r.sampling.repetition_penalty = 1.0f;
  r.sampling.max_new_tokens = max_new_tokens;
  return r;
}

// Pictures prepared on this thread (Engine::Generate, as Session::Generate does too) while the
// scheduler thread decodes a submitted request: both use the engine's thread pool, neither may
// wait for the other forever, and every answer stays exact.
TEST_F(RequestOrderTest, PicturesPreparedWhileASubmittedRequestDecodes) {
  struct Long {
    std::mutex mu;
    std::condition_variable cv;
    bool streaming = false, done = false;
    std::optional<Result> result;
    std::string error;
  };
  const auto state = std::make_shared<Long>();
  const auto engine = Engine::Load(Options(1, 128));
  std::vector<Request> pictures;
  for (int i = 0; i < 6; ++i) {
    Message user = UserMessage();
    Media picture = pool_->pictures[static_cast<size_t>(i) % pool_->pictures.size()];
    picture.max_pixels = 3136 + 784 * i;  // a budget of its own: prepared anew, not from a cache
    user.content.push_back({ContentPart::Type::kMedia, {}, picture});
    user.content.push_back({ContentPart::Type::kText, "What is in this picture?", {}});
    pictures.push_back(Greedy(user, 4));
    Reference(pictures.back());
  }
  const Request long_request = Greedy(Message::Text("user", "Tell me a very long story."), 1500);

  Watchdog watchdog;
  watchdog.Arm("pictures prepared while a submitted request decodes");
  const auto handle = engine->Submit(
      long_request,
      [state](std::string_view) {
        std::lock_guard<std::mutex> lock(state->mu);
        state->streaming = true;
        state->cv.notify_all();
        return true;
      },
      [state](const Result* r, const Error* e) {
        std::lock_guard<std::mutex> lock(state->mu);
        if (r != nullptr) state->result = *r;
        if (e != nullptr) state->error = e->what();
        state->done = true;
        state->cv.notify_all();
      });
  {
    std::unique_lock<std::mutex> lock(state->mu);
    state->cv.wait(lock, [&] { return state->streaming || state->done; });
  }
  Tally tally;
  for (size_t i = 0; i < pictures.size(); ++i) {
    Outcome outcome;
    try {
      outcome.result = engine->Generate(pictures[i], [&](std::string_view piece) {
        outcome.streamed.append(piece);
        return true;
      });
    } catch (const Error& e) {
      outcome.error = e.what();
    }
    CheckOutcome(pictures[i], Reference(pictures[i]), outcome, "picture " + std::to_string(i),
                 tally);
  }
  {
    std::lock_guard<std::mutex> lock(state->mu);
    EXPECT_FALSE(state->done) << "the submitted request ended before the pictures were prepared "
                                 "(it needs more tokens to overlap them)";
  }
  handle->Cancel();
  {
    std::unique_lock<std::mutex> lock(state->mu);
    state->cv.wait(lock, [&] { return state->done; });
  }
  watchdog.Disarm();
  ASSERT_TRUE(state->result.has_value()) << state->error;
  ASSERT_GT(state->result->completion_tokens, 0);
  // Its answer so far is the answer of a request for that many tokens.
  Request as_long = long_request;
  as_long.sampling.max_new_tokens = state->result->completion_tokens;
  EXPECT_EQ(state->result->tokens, Reference(as_long).tokens);
}

}  // namespace
}  // namespace qwenvl
