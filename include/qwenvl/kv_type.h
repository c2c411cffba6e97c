// The element type the decoder's KV cache stores keys and values in. Each cached row (one token's
// keys or values of one layer: num_kv_heads · head_dim values) is converted when it is written;
// attention reads the stored type. Described once, in a traits table (src/util/kv_type.cc) that
// sizes, names and command-line parses read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qwenvl {

// kF32: float32, nothing rounded (the exact path). kBf16: bfloat16, rounded to nearest even.
// kQ8: int8 in blocks of KvQuantBlock(head_dim) values of one head, each block with a float32
// scale max|x| / 127 (symmetric), the scales after the row's values.
enum class KvType : uint8_t { kF32, kBf16, kQ8 };

// Values per q8 block: 32 when head_dim is a multiple of 32 (the published models' 128), else the
// whole head row (a block never crosses heads).
int64_t KvQuantBlock(int64_t head_dim);

const char* KvTypeName(KvType type);  // "f32", "bf16", "q8"
// A type from its name; throws Error(kInvalidArgument) naming the accepted names.
KvType ParseKvType(std::string_view name);
// "f32, bf16, q8", for help texts.
std::string KvTypeChoices();

// Bytes of one cached row of num_kv_heads · head_dim values (q8: its scales included).
int64_t KvRowBytes(KvType type, int64_t num_kv_heads, int64_t head_dim);
// The same rounded up to whole float32 words: how a backend's float matrices hold the rows.
int64_t KvRowFloats(KvType type, int64_t num_kv_heads, int64_t head_dim);

}  // namespace qwenvl
