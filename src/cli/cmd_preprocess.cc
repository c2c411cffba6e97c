// `qwenvl preprocess`: the still-image pipeline of model-spec §6 from the command line, for
// checking against the reference processor.
//   qwenvl preprocess --image P [--min-pixels N --max-pixels N | --resized-height H
//                     --resized-width W] [-m MODEL_DIR] --out F.safetensors
// writes resized_rgb (U8 [H,W,3]), pixel_values (F32 [rows,1176]) and grid_thw (I64 [1,3]) and
// prints a one-line JSON summary.
//   qwenvl preprocess --video P | --video-frames A B ... [--fps F | --nframes N] ... --out F: the
//   video pipeline of model-spec §7 (cli/preprocess_video.h).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_argument.h"
#include "cli/preprocess_video.h"
#include "io/safetensors_writer.h"
#include "media/image_decode.h"
#include "media/image_preprocess.h"
#include "media/preprocessor_config.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace qwenvl::cli {
namespace {

struct PreprocessOptions {
  std::string image;
  std::string model_dir;
  std::string out;
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  std::optional<int64_t> resized_height;
  std::optional<int64_t> resized_width;
  int threads = 1;
  VideoCliOptions video;  // --video / --video-frames (model-spec §7)
};

void RunPreprocess(const PreprocessOptions& o) {
  const media::PreprocessorConfig config = o.model_dir.empty()
                                               ? media::PreprocessorConfig{}
                                               : media::LoadPreprocessorConfig(o.model_dir);
  media::ImageBudget budget = media::ImageBudgetFromConfig(config);
  if (o.min_pixels) budget.min_pixels = *o.min_pixels;
  if (o.max_pixels) budget.max_pixels = *o.max_pixels;
  budget.resized_height = o.resized_height;
  budget.resized_width = o.resized_width;
  if (o.threads < 1 || o.threads > 256) {
    throw Error(ErrorCode::kInvalidArgument, "--threads must be in [1, 256]");
  }
  ThreadPool pool(o.threads);
  media::PatchifyOptions popts = config.patchify_options();
  popts.pool = &pool;

  if (o.video.given()) {
    RunVideoPreprocess(o.video, {o.min_pixels, o.max_pixels, o.resized_height, o.resized_width},
                       popts, o.out);
    return;
  }
  if (o.image.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "preprocess: give --image, --video or --video-frames");
  }
  const media::RgbImage image = media::DecodeImageFile(o.image);
  const media::PreprocessedImage pre = media::PreprocessImage(image, budget, popts);
  const media::Patches& p = pre.patches;
  const int64_t cols = p.rows() == 0 ? 0 : static_cast<int64_t>(p.values.size()) / p.rows();
  const std::vector<int64_t> grid = {p.grid_t, p.grid_h, p.grid_w};
  std::vector<io::OwnedTensor> tensors;
  tensors.push_back(io::MakeTensor<uint8_t>("resized_rgb", io::DType::kU8,
                                            {pre.resized.height, pre.resized.width, 3},
                                            std::span<const uint8_t>(pre.resized.pixels)));
  tensors.push_back(io::MakeTensor<float>("pixel_values", io::DType::kF32, {p.rows(), cols},
                                          std::span<const float>(p.values)));
  tensors.push_back(
      io::MakeTensor<int64_t>("grid_thw", io::DType::kI64, {1, 3}, std::span<const int64_t>(grid)));
  io::WriteSafetensors(o.out, tensors);

  const int64_t merge = int64_t{config.merge_size} * config.merge_size;
  nlohmann::json summary = {{"image", o.image},
                            {"orig_hw", {pre.orig_height, pre.orig_width}},
                            {"resized_hw", {pre.resized.height, pre.resized.width}},
                            {"grid_thw", grid},
                            {"image_tokens", p.rows() / merge},
                            {"out", o.out}};
  std::printf("%s\n", summary.dump().c_str());
}

}  // namespace

void AddPreprocessCommand(CLI::App& app) {
  auto opts = std::make_shared<PreprocessOptions>();
  CLI::App* cmd = app.add_subcommand(
      "preprocess", "Decode, resize and patchify one image as the Qwen2.5-VL processor does");
  auto* image = cmd->add_option("--image", opts->image, "image file (JPEG, PNG, WebP, GIF, BMP)");
  for (CLI::Option* video : AddVideoCliOptions(cmd, &opts->video)) image->excludes(video);
  cmd->add_option(
         "-m,--model", opts->model_dir,
         "model folder (or file) with preprocessor_config.json, or hub name ORG/NAME[@REV]; "
         "default: published values")
      ->transform(ModelArgument());
  cmd->add_option("--out", opts->out, "output .safetensors file")->required();
  auto* mn = cmd->add_option("--min-pixels", opts->min_pixels, "smallest pixel budget");
  auto* mx = cmd->add_option("--max-pixels", opts->max_pixels, "largest pixel budget");
  auto* rh = cmd->add_option("--resized-height", opts->resized_height,
                             "fixed height (rounded to a multiple of 28)");
  auto* rw = cmd->add_option("--resized-width", opts->resized_width,
                             "fixed width (rounded to a multiple of 28)");
  rh->needs(rw);
  rw->needs(rh);
  rh->excludes(mn)->excludes(mx);
  rw->excludes(mn)->excludes(mx);
  cmd->add_option("--threads", opts->threads, "worker threads for resize and patchify")
      ->default_val(1);
  cmd->callback([opts] { RunPreprocess(*opts); });
}

}  // namespace qwenvl::cli
