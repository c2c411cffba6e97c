#include "runtime/grounding.h"

#include <gtest/gtest.h>

namespace qwenvl::runtime {
namespace {

using Kind = GroundingItem::Kind;

TEST(Grounding, ParsesFencedListOfBoxes) {
  const auto items = ParseGrounding(
      "```json\n[\n\t{\"bbox_2d\": [111, 133, 166, 181], \"label\": \"red square\"},\n"
      "\t{\"bbox_2d\": [10, 12, 87, 86], \"label\": \"green circle\"}\n]\n```");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].kind, Kind::kBox);
  EXPECT_EQ(items[0].label, "red square");
  EXPECT_EQ(items[0].coords, (std::vector<double>{111, 133, 166, 181}));
  EXPECT_EQ(items[1].label, "green circle");
}

TEST(Grounding, ParsesPointsProseAndTruncatedLists) {
  auto items = ParseGrounding(
      "Here: {\"point_2d\": [5, 7], \"label\": \"cup\"} and [{\"bbox_2d\": [1, 2, 3, 4]}, "
      "{\"bbox_2d\": [5, 6");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].kind, Kind::kPoint);
  EXPECT_EQ(items[0].coords, (std::vector<double>{5, 7}));
  EXPECT_EQ(items[1].label, "");
  EXPECT_EQ(items[1].coords, (std::vector<double>{1, 2, 3, 4}));
}

TEST(Grounding, SkipsMalformedItemsAndFindsNestedOnes) {
  EXPECT_TRUE(ParseGrounding("").empty());
  EXPECT_TRUE(ParseGrounding("no json here }{").empty());
  EXPECT_TRUE(ParseGrounding("{\"bbox_2d\": [1, 2, 3]}").empty());         // 3 numbers
  EXPECT_TRUE(ParseGrounding("{\"bbox_2d\": [1, \"2\", 3, 4]}").empty());  // a string
  EXPECT_TRUE(ParseGrounding("{\"point_2d\": 5}").empty());
  auto nested = ParseGrounding("{\"objects\": [{\"bbox_2d\": [1,2,3,4], \"label\": \"a}\"}]}");
  ASSERT_EQ(nested.size(), 1u);
  EXPECT_EQ(nested[0].label, "a}");  // a brace inside a string does not end the object
}

TEST(Grounding, MapsToOriginalFrameWithClampAndSwap) {
  MediaInfo m;
  m.original_width = 1000;
  m.original_height = 500;
  m.resized_width = 500;
  m.resized_height = 250;
  GroundingItem box{Kind::kBox, "x", {300, 200, 100, 50}};  // reversed corners
  const auto resized = NormalizeResized(box, m);
  EXPECT_EQ(resized.coords, (std::vector<double>{100, 50, 300, 200}));
  const auto original = ToOriginalFrame(box, m);
  EXPECT_EQ(original.coords, (std::vector<double>{200, 100, 600, 400}));
  GroundingItem outside{Kind::kBox, "", {-20, 10, 900, 260}};
  EXPECT_EQ(ToOriginalFrame(outside, m).coords, (std::vector<double>{0, 20, 1000, 500}));
  GroundingItem point{Kind::kPoint, "", {250, 125}};
  EXPECT_EQ(ToOriginalFrame(point, m).coords, (std::vector<double>{500, 250}));
}

TEST(Grounding, MediaIndexIsTheLastImage) {
  std::vector<MediaInfo> media(3);
  media[2].kind = Media::Kind::kVideo;
  EXPECT_EQ(GroundingMediaIndex(media), 1);
  EXPECT_EQ(GroundingMediaIndex({}), -1);
}

}  // namespace
}  // namespace qwenvl::runtime
