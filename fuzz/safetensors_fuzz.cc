// Fuzz target: a whole safetensors file (length prefix, header, data) must load or be refused with
// qwenvl::Error, never crash; every tensor a loaded file reports must lie inside the file.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "io/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/qwenvl_safetensors_fuzz_" + std::to_string(getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    qwenvl::io::SafetensorsFile file(path);
    for (const auto& t : file.tensors()) {
      volatile uint8_t sink = 0;
      if (t.nbytes > 0) sink = t.data[0] ^ t.data[t.nbytes - 1];  // ASan: must be mapped
      (void)sink;
    }
  } catch (const qwenvl::Error&) {
  }
  // The header parser alone, on the raw bytes as JSON, with a data section of the same size.
  try {
    qwenvl::io::ParseSafetensorsHeader(std::string_view(reinterpret_cast<const char*>(data), size),
                                       size, "fuzz");
  } catch (const qwenvl::Error&) {
  }
  return 0;
}
