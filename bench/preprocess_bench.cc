// Still-image preprocessing speed (model-spec §6): decode + smart_resize + PIL-exact bicubic +
// patchify for each test photo at the published default budget (min 3136, max 12845056), on one
// thread and with a 2-thread pool. bench/preprocess_compare.sh runs this beside PIL + numpy
// (bench/pil_preprocess.py) and prints the ratios.
#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/image_decode.h"
#include "media/image_preprocess.h"
#include "media/resize_bicubic.h"
#include "media/smart_resize.h"
#include "util/thread_pool.h"

namespace {

using namespace qwenvl;

const char* kPhotos[] = {"cartoon_brave_person.jpeg", "computer_use2.jpeg",
                         "docparsing_example7.jpg",   "multiple_items.png",
                         "ocr_example2.jpg",          "ocr_example3.jpg",
                         "unireco_bird_example.jpg"};

std::vector<uint8_t> ReadPhoto(const std::string& name) {
  const std::string path = std::string(QWENVL_SOURCE_DIR) + "/tests/data/preprocess/photos/" + name;
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The whole pipeline from the file's bytes (already in memory, as PIL gets them from the page
// cache) to pixel_values.
void BM_Preprocess(benchmark::State& state, const std::string& name, int threads) {
  const std::vector<uint8_t> bytes = ReadPhoto(name);
  ThreadPool pool(threads);
  media::PatchifyOptions opts;
  opts.pool = threads > 1 ? &pool : nullptr;
  const media::ImageBudget budget;  // the published default
  int64_t rows = 0;
  for (auto _ : state) {
    const media::RgbImage img = media::DecodeImage(bytes);
    const media::PreprocessedImage pre = media::PreprocessImage(img, budget, opts);
    rows = pre.patches.rows();
    benchmark::DoNotOptimize(pre.patches.values.data());
  }
  state.counters["patches"] = static_cast<double>(rows);
}

// The stages alone, single thread, to see where the time goes.
void BM_Stage(benchmark::State& state, const std::string& name, int stage) {
  const std::vector<uint8_t> bytes = ReadPhoto(name);
  const media::RgbImage img = media::DecodeImage(bytes);
  const media::ResizedSize size = media::SmartResize(img.height, img.width, 28, 3136, 12845056);
  const media::RgbImage resized =
      media::ResizeBicubic(img, static_cast<int>(size.width), static_cast<int>(size.height));
  for (auto _ : state) {
    if (stage == 0) {
      benchmark::DoNotOptimize(media::DecodeImage(bytes).pixels.data());
    } else if (stage == 1) {
      benchmark::DoNotOptimize(
          media::ResizeBicubic(img, static_cast<int>(size.width), static_cast<int>(size.height))
              .pixels.data());
    } else {
      benchmark::DoNotOptimize(
          media::Patchify(std::span<const media::RgbImage>(&resized, 1), {}).values.data());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (const char* photo : kPhotos) {
    for (int threads : {1, 2}) {
      benchmark::RegisterBenchmark(
          ("BM_Preprocess/" + std::string(photo) + "/threads:" + std::to_string(threads)).c_str(),
          BM_Preprocess, std::string(photo), threads)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  const char* stages[] = {"decode", "resize", "patchify"};
  for (int s = 0; s < 3; ++s) {
    benchmark::RegisterBenchmark(
        ("BM_Stage/" + std::string(stages[s]) + "/computer_use2.jpeg").c_str(), BM_Stage,
        std::string("computer_use2.jpeg"), s)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
