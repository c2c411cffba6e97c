#include "util/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace qwenvl {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("abc");
  EXPECT_EQ(abc.FinishHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 two_blocks;
  two_blocks.Update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(two_blocks.FinishHex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, SplitUpdatesEqualOneUpdate) {
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
  Sha256 parts;
  parts.Update(std::span(data).subspan(0, 3));
  parts.Update(std::span(data).subspan(3, 100));
  parts.Update(std::span(data).subspan(103));
  EXPECT_EQ(parts.FinishHex(), Sha256Hex(data));
}

}  // namespace
}  // namespace qwenvl
