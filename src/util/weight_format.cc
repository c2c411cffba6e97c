#include "qwenvl/weight_format.h"

#include <array>

#include "util/error.h"

namespace qwenvl {

namespace {

// Indexed by the enum's value: the static_asserts below keep the order.
constexpr std::array<WeightFormatTraits, 5> kFormats{{
    {WeightFormat::kF32, "f32", false, 1, 4},
    {WeightFormat::kBF16, "bf16", false, 1, 2},
    {WeightFormat::kF16, "f16", false, 1, 2},
    {WeightFormat::kQ8, "q8", true, kWeightQuantBlock, kWeightQuantBlock},
    {WeightFormat::kQ4, "q4", true, kWeightQuantBlock, kWeightQuantBlock / 2},
}};

// "bf16" is the precision users know the published checkpoints by; it loads them as stored.
const std::array<WeightPrecisionTraits, 3> kPrecisions{{
    {WeightPrecision::kStored, "stored", "bf16", std::nullopt},
    {WeightPrecision::kQ8, "q8", nullptr, WeightFormat::kQ8},
    {WeightPrecision::kQ4, "q4", nullptr, WeightFormat::kQ4},
}};

constexpr bool FormatsInEnumOrder() {
  for (size_t i = 0; i < kFormats.size(); ++i) {
    if (static_cast<size_t>(kFormats[i].format) != i) return false;
  }
  return true;
}
static_assert(FormatsInEnumOrder(), "kFormats must be indexed by WeightFormat");

}  // namespace

const WeightFormatTraits& TraitsOf(WeightFormat format) {
  const auto i = static_cast<size_t>(format);
  QWENVL_CHECK(i < kFormats.size());
  return kFormats[i];
}

const char* WeightFormatName(WeightFormat format) { return TraitsOf(format).name; }

int64_t WeightRowBytes(WeightFormat format, int64_t cols) {
  const WeightFormatTraits& t = TraitsOf(format);
  const int64_t blocks = (cols + t.block_cols - 1) / t.block_cols;
  return blocks * (t.block_bytes + (t.quantized ? int64_t{2} : 0));
}

const WeightPrecisionTraits& TraitsOf(WeightPrecision precision) {
  const auto i = static_cast<size_t>(precision);
  QWENVL_CHECK(i < kPrecisions.size() && kPrecisions[i].precision == precision);
  return kPrecisions[i];
}

const char* WeightPrecisionName(WeightPrecision precision) { return TraitsOf(precision).name; }

WeightPrecision ParseWeightPrecision(std::string_view name) {
  for (const WeightPrecisionTraits& t : kPrecisions) {
    if (name == t.name || (t.alias != nullptr && name == t.alias)) return t.precision;
  }
  throw Error(ErrorCode::kInvalidArgument, "weights must be one of " + WeightPrecisionChoices() +
                                               ", not \"" + std::string(name) + "\"");
}

std::string WeightPrecisionChoices() {
  std::string out;
  for (const WeightPrecisionTraits& t : kPrecisions) {
    if (!out.empty()) out += ", ";
    if (t.alias != nullptr) {
      out += std::string(t.alias) + " (as " + t.name + ")";
    } else {
      out += t.name;
    }
  }
  return out;
}

}  // namespace qwenvl
