#include "qwenvl/kv_type.h"

#include <array>

#include "util/error.h"

namespace qwenvl {
namespace {

constexpr std::array<const char*, 3> kNames{"f32", "bf16", "q8"};

}  // namespace

int64_t KvQuantBlock(int64_t head_dim) { return head_dim % 32 == 0 ? 32 : head_dim; }

const char* KvTypeName(KvType type) {
  const auto i = static_cast<size_t>(type);
  QWENVL_CHECK(i < kNames.size());
  return kNames[i];
}

KvType ParseKvType(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<KvType>(i);
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown KV-cache type '" + std::string(name) +
                                               "' (expected " + KvTypeChoices() + ")");
}

std::string KvTypeChoices() { return "f32, bf16, q8"; }

int64_t KvRowBytes(KvType type, int64_t num_kv_heads, int64_t head_dim) {
  const int64_t n = num_kv_heads * head_dim;
  switch (type) {
    case KvType::kF32:
      return 4 * n;
    case KvType::kBf16:
      return 2 * n;
    case KvType::kQ8:
      return n + 4 * (n / KvQuantBlock(head_dim));
  }
  QWENVL_CHECK(false);
  return 0;
}

int64_t KvRowFloats(KvType type, int64_t num_kv_heads, int64_t head_dim) {
  return (KvRowBytes(type, num_kv_heads, head_dim) + 3) / 4;
}

}  // namespace qwenvl
