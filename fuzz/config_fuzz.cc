// Fuzz target: config.json text must parse into a checked ModelConfig or be refused with
// qwenvl::Error; a parsed config must satisfy the invariants the model relies on.
#include <cstdint>
#include <string>

#include "io/checkpoint_layout.h"
#include "io/model_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const qwenvl::io::ModelConfig c = qwenvl::io::ParseModelConfig(text, "fuzz/config.json");
    QWENVL_CHECK(c.text.hidden_size % c.text.num_attention_heads == 0);
    QWENVL_CHECK(c.text.num_attention_heads % c.text.num_key_value_heads == 0);
    QWENVL_CHECK(c.vision.hidden_size % c.vision.num_heads == 0);
    // The tensor table must be derivable without overflow for small configs.
    if (c.text.num_hidden_layers < 64 && c.vision.depth < 64) qwenvl::io::ExpectedTensors(c);
  } catch (const qwenvl::Error&) {
  }
  return 0;
}
