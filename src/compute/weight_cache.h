// Quantized weights cached on disk: the q8/q4 copies a load makes are written once into one file
// per (model, format) and mapped at the next load instead of being quantized again.
//
// A file is used only when everything it says matches: the magic, the file version, the key (the
// checkpoint files' identity, the format and kernels::kQuantLayoutVersion), the header's own hash
// and the file's size (a truncated file is refused at open). Each tensor's bytes are hashed
// (XXH3-64) when the tensor is first used, which reads the file once, the same cost as the
// mapping's first touch: a flipped byte is found before the weight is used and that tensor is
// quantized again. Any miss (absent, damaged or mismatched) makes the load write a fresh file
// with this load's tensors: into a temporary file in the same folder, renamed over the old one
// when complete, so that no reader ever sees a half-written file and concurrent loads each leave a
// whole file (the last rename wins). A folder that cannot be written leaves the weights quantized
// in memory, with one warning.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/dtype.h"
#include "util/mapped_file.h"

namespace qwenvl::compute {

// One tensor of a cache file.
struct WeightCacheEntry {
  std::string name;
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t offset = 0;  // from the start of the file, a multiple of kWeightCacheAlignment
  uint64_t bytes = 0;
  uint64_t hash = 0;  // XXH3-64 of the bytes
};

constexpr uint64_t kWeightCacheAlignment = 64;

// The table of a cache file's bytes whose header is intact and whose key is `key`; nullopt when
// the bytes are not such a file (short, wrong magic or version, wrong format or key, header hash,
// entries out of bounds or overlapping the header, size other than the header states). Tensor
// bytes are not hashed here (WeightCacheEntryIntact does that).
std::optional<std::vector<WeightCacheEntry>> ParseWeightCacheFile(std::span<const uint8_t> file,
                                                                  WeightFormat format,
                                                                  std::string_view key);
// Writes the header hash of file's bytes, as its data offset field states, when that offset lies
// in the file (the fuzz target seals mutated headers so that the table parser is reached).
void SealWeightCacheHeader(std::span<uint8_t> file);
// Whether the entry's bytes (in bounds, as ParseWeightCacheFile checked) hash as recorded.
bool WeightCacheEntryIntact(std::span<const uint8_t> file, const WeightCacheEntry& e);

// A matrix to be written into a cache file.
struct WeightCacheTensor {
  std::string name;
  kernels::WeightView view;  // quantized, of `format`
};
// The bytes of a cache file holding tensors (tests and the writer).
std::vector<uint8_t> SerializeWeightCacheHeader(WeightFormat format, std::string_view key,
                                                std::span<const WeightCacheTensor> tensors,
                                                std::vector<WeightCacheEntry>& entries);

class WeightCache {
 public:
  // dir: the cache folder (created when needed); stem: the model's file name stem (one file per
  // stem and format, so one copy per model and format); source_key: the checkpoint files'
  // identity. An empty dir disables the cache (Find finds nothing, Commit writes nothing).
  WeightCache(std::string dir, std::string stem, std::string source_key);

  // The folder from the environment: $QWENVL_WEIGHT_CACHE ("off" or "none": "", disabled), else
  // $XDG_CACHE_HOME/qwenvl/weights, else ~/.cache/qwenvl/weights ("" when neither is set).
  static std::string DefaultDir();
  // setting: "" (DefaultDir()), "off"/"none" (disabled, ""), or a folder.
  static std::string ResolveDir(const std::string& setting);

  // The cached copy of `name` in `format`, [rows, cols], its bytes verified, and what keeps it
  // mapped; nullopt when there is none (the caller quantizes and calls Keep).
  struct Found {
    kernels::WeightView view;
    std::shared_ptr<const void> owner;
  };
  std::optional<Found> Find(std::string_view name, WeightFormat format, int64_t rows, int64_t cols);
  // Records a freshly quantized matrix (owner keeps view's bytes alive until Commit) for the file
  // of its format, which Commit then rewrites.
  void Keep(std::string_view name, const kernels::WeightView& view,
            std::shared_ptr<const void> owner);
  // Writes the file of each format for which Keep was called, with every tensor of this load in
  // that format. A failure is reported once on stderr and leaves the load as it is.
  void Commit();

  // The file of a format ("" when disabled), and the last write problem ("" when none).
  std::string PathOf(WeightFormat format) const;
  const std::string& problem() const { return problem_; }
  // Counts of this load: tensors mapped from a file, tensors quantized (kept).
  int hits() const { return hits_; }
  int misses() const { return misses_; }

 private:
  struct FormatState {
    bool opened = false;
    std::shared_ptr<const MappedFile> file;  // null: no usable file
    std::map<std::string, WeightCacheEntry, std::less<>> entries;
    std::vector<WeightCacheTensor> used;  // this load's tensors, in order
    std::vector<std::shared_ptr<const void>> owners;
    bool dirty = false;
  };
  FormatState& Open(WeightFormat format);
  std::string KeyOf(WeightFormat format) const;
  void Write(WeightFormat format, FormatState& s);

  std::string dir_;
  std::string stem_;
  std::string source_key_;
  std::mutex mu_;
  std::map<WeightFormat, FormatState> formats_;
  std::string problem_;
  bool warned_ = false;
  int hits_ = 0;
  int misses_ = 0;
};

}  // namespace qwenvl::compute
