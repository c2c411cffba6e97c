// The weight-format and precision tables: every size, name and command-line parse reads them.
#include "qwenvl/weight_format.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace qwenvl {
namespace {

constexpr WeightFormat kAllFormats[] = {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16,
                                        WeightFormat::kQ8, WeightFormat::kQ4};

TEST(WeightFormat, TraitsAreIndexedByTheirFormat) {
  for (WeightFormat f : kAllFormats) EXPECT_EQ(TraitsOf(f).format, f) << WeightFormatName(f);
  EXPECT_STREQ(WeightFormatName(WeightFormat::kBF16), "bf16");
  EXPECT_STREQ(WeightFormatName(WeightFormat::kQ4), "q4");
}

TEST(WeightFormat, RowBytesOfStoredFormatsAreTheElementSize) {
  EXPECT_EQ(WeightRowBytes(WeightFormat::kF32, 7), 28);
  EXPECT_EQ(WeightRowBytes(WeightFormat::kBF16, 7), 14);
  EXPECT_EQ(WeightRowBytes(WeightFormat::kF16, 2048), 4096);
  EXPECT_EQ(WeightRowBytes(WeightFormat::kBF16, 0), 0);
}

TEST(WeightFormat, RowBytesOfQuantizedFormatsCountPaddedBlocksAndScales) {
  // 33 columns: two blocks (the second zero-padded), each with a float16 scale.
  EXPECT_EQ(WeightRowBytes(WeightFormat::kQ8, 33), 2 * (32 + 2));
  EXPECT_EQ(WeightRowBytes(WeightFormat::kQ4, 33), 2 * (16 + 2));
  EXPECT_EQ(WeightRowBytes(WeightFormat::kQ8, 32), 34);
  EXPECT_EQ(WeightRowBytes(WeightFormat::kQ4, 2048), 64 * 18);
  EXPECT_TRUE(TraitsOf(WeightFormat::kQ8).quantized);
  EXPECT_FALSE(TraitsOf(WeightFormat::kBF16).quantized);
}

TEST(WeightPrecision, ParsesNamesAndTheBf16Alias) {
  EXPECT_EQ(ParseWeightPrecision("stored"), WeightPrecision::kStored);
  EXPECT_EQ(ParseWeightPrecision("bf16"), WeightPrecision::kStored);
  EXPECT_EQ(ParseWeightPrecision("q8"), WeightPrecision::kQ8);
  EXPECT_EQ(ParseWeightPrecision("q4"), WeightPrecision::kQ4);
  for (WeightPrecision p : {WeightPrecision::kStored, WeightPrecision::kQ8, WeightPrecision::kQ4}) {
    EXPECT_EQ(ParseWeightPrecision(WeightPrecisionName(p)), p);
    EXPECT_EQ(TraitsOf(p).precision, p);
  }
}

TEST(WeightPrecision, QuantizedPrecisionsNameTheirFormat) {
  EXPECT_FALSE(TraitsOf(WeightPrecision::kStored).quantize_to.has_value());
  EXPECT_EQ(TraitsOf(WeightPrecision::kQ8).quantize_to, WeightFormat::kQ8);
  EXPECT_EQ(TraitsOf(WeightPrecision::kQ4).quantize_to, WeightFormat::kQ4);
}

TEST(WeightPrecision, UnknownNamesAreRefusedWithTheChoices) {
  for (const char* bad : {"", "Q8", "q5", "f32", "bf16 ", "int8", "stored\n"}) {
    try {
      ParseWeightPrecision(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      const std::string what = e.what();
      EXPECT_NE(what.find("bf16 (as stored), q8, q4"), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace qwenvl
