#include "compute/weight_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "util/error.h"

namespace qwenvl::compute {
namespace {

namespace fs = std::filesystem;

// The file: a fixed header, the key, the tensor table, then each tensor's bytes at a 64-byte
// aligned offset (the kernels load whole vectors). Integers are little-endian as the host writes
// them (the file is a cache of this machine, never shipped).
//   header: magic[8] version format layout count | key_bytes table_bytes data_offset file_bytes
//           header_hash (XXH3-64 of everything before data_offset with this field zero)
//   table entry: name_len u32, 0 u32, rows i64, cols i64, offset u64, bytes u64, hash u64, name,
//                zero padding to 8 bytes.
constexpr char kMagic[8] = {'Q', 'W', 'V', 'L', 'W', 'C', 'A', 'C'};
// Version of the file layout described above (the quantized layouts have their own,
// kernels::kQuantLayoutVersion, also checked).
constexpr uint32_t kFileVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kHashOffset = 56;
constexpr size_t kEntryFixedBytes = 48;
constexpr uint64_t kMaxKeyBytes = 1 << 16;
constexpr uint64_t kMaxNameBytes = 1 << 12;
constexpr int64_t kMaxDim = int64_t{1} << 32;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

template <class T>
void Put(std::vector<uint8_t>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof(T));
}
template <class T>
void Append(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  Put(out, at, v);
}
void AppendBytes(std::vector<uint8_t>& out, std::string_view bytes) {
  const size_t at = out.size();
  out.resize(at + bytes.size());
  if (!bytes.empty()) std::memcpy(out.data() + at, bytes.data(), bytes.size());
}
template <class T>
T Get(std::span<const uint8_t> in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof(T));
  return v;
}

uint64_t HeaderHash(std::span<const uint8_t> header) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, header.data(), kHashOffset);
  const uint64_t zero = 0;
  XXH3_64bits_update(st, &zero, sizeof zero);
  XXH3_64bits_update(st, header.data() + kHeaderBytes, header.size() - kHeaderBytes);
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

void WriteAll(int fd, const void* data, size_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, path + ": write failed: " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Temporary files of writers that died (killed mid-write) are removed after an hour; a live
// writer's file is younger.
void RemoveStaleTemporaries(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    std::error_code ec2;
    const auto t = e.last_write_time(ec2);
    if (!ec2 && now - t > std::chrono::hours(1)) fs::remove(e.path(), ec2);
  }
}

}  // namespace

std::vector<uint8_t> SerializeWeightCacheHeader(WeightFormat format, std::string_view key,
                                                std::span<const WeightCacheTensor> tensors,
                                                std::vector<WeightCacheEntry>& entries) {
  std::vector<uint8_t> out(kHeaderBytes, 0);
  AppendBytes(out, key);
  const size_t table_start = out.size();
  // Offsets need the table's size first: every entry's size is known from its name.
  uint64_t table_bytes = 0;
  for (const WeightCacheTensor& t : tensors)
    table_bytes += kEntryFixedBytes + AlignUp(t.name.size(), 8);
  const uint64_t data_offset = AlignUp(table_start + table_bytes, kWeightCacheAlignment);
  uint64_t offset = data_offset;
  entries.clear();
  for (const WeightCacheTensor& t : tensors) {
    WeightCacheEntry e;
    e.name = t.name;
    e.rows = t.view.rows;
    e.cols = t.view.cols;
    e.offset = offset;
    e.bytes = static_cast<uint64_t>(t.view.rows * WeightRowBytes(format, t.view.cols));
    e.hash = XXH3_64bits(t.view.data, e.bytes);
    offset = AlignUp(offset + e.bytes, kWeightCacheAlignment);
    Append<uint32_t>(out, static_cast<uint32_t>(e.name.size()));
    Append<uint32_t>(out, 0);
    Append<int64_t>(out, e.rows);
    Append<int64_t>(out, e.cols);
    Append<uint64_t>(out, e.offset);
    Append<uint64_t>(out, e.bytes);
    Append<uint64_t>(out, e.hash);
    AppendBytes(out, e.name);
    out.resize(out.size() + AlignUp(e.name.size(), 8) - e.name.size(), 0);
    entries.push_back(std::move(e));
  }
  out.resize(data_offset, 0);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  Put<uint32_t>(out, 8, kFileVersion);
  Put<uint32_t>(out, 12, static_cast<uint32_t>(format));
  Put<uint32_t>(out, 16, kernels::kQuantLayoutVersion);
  Put<uint32_t>(out, 20, static_cast<uint32_t>(tensors.size()));
  Put<uint64_t>(out, 24, key.size());
  Put<uint64_t>(out, 32, table_bytes);
  Put<uint64_t>(out, 40, data_offset);
  Put<uint64_t>(out, 48, offset);  // file size: the end of the last tensor, aligned
  Put<uint64_t>(out, kHashOffset, HeaderHash(out));
  return out;
}

std::optional<std::vector<WeightCacheEntry>> ParseWeightCacheFile(std::span<const uint8_t> file,
                                                                  WeightFormat format,
                                                                  std::string_view key) {
  if (file.size() < kHeaderBytes || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0)
    return std::nullopt;
  if (Get<uint32_t>(file, 8) != kFileVersion ||
      Get<uint32_t>(file, 12) != static_cast<uint32_t>(format) ||
      Get<uint32_t>(file, 16) != kernels::kQuantLayoutVersion)
    return std::nullopt;
  const uint32_t count = Get<uint32_t>(file, 20);
  const uint64_t key_bytes = Get<uint64_t>(file, 24);
  const uint64_t table_bytes = Get<uint64_t>(file, 32);
  const uint64_t data_offset = Get<uint64_t>(file, 40);
  const uint64_t file_bytes = Get<uint64_t>(file, 48);
  if (file_bytes != file.size() || key_bytes > kMaxKeyBytes || table_bytes > file.size() ||
      data_offset > file.size() ||
      data_offset != AlignUp(kHeaderBytes + key_bytes + table_bytes, kWeightCacheAlignment))
    return std::nullopt;
  if (HeaderHash(file.first(data_offset)) != Get<uint64_t>(file, kHashOffset)) return std::nullopt;
  if (std::string_view(reinterpret_cast<const char*>(file.data()) + kHeaderBytes, key_bytes) != key)
    return std::nullopt;
  std::vector<WeightCacheEntry> entries;
  std::set<std::string, std::less<>> names;
  size_t at = kHeaderBytes + key_bytes;
  const size_t table_end = at + table_bytes;
  for (uint32_t i = 0; i < count; ++i) {
    if (table_end - at < kEntryFixedBytes) return std::nullopt;
    WeightCacheEntry e;
    const uint32_t name_len = Get<uint32_t>(file, at);
    e.rows = Get<int64_t>(file, at + 8);
    e.cols = Get<int64_t>(file, at + 16);
    e.offset = Get<uint64_t>(file, at + 24);
    e.bytes = Get<uint64_t>(file, at + 32);
    e.hash = Get<uint64_t>(file, at + 40);
    at += kEntryFixedBytes;
    if (name_len > kMaxNameBytes || AlignUp(name_len, 8) > table_end - at) return std::nullopt;
    e.name.assign(reinterpret_cast<const char*>(file.data()) + at, name_len);
    at += AlignUp(name_len, 8);
    if (e.rows <= 0 || e.cols <= 0 || e.rows > kMaxDim || e.cols > kMaxDim ||
        e.bytes !=
            static_cast<uint64_t>(e.rows) * static_cast<uint64_t>(WeightRowBytes(format, e.cols)) ||
        e.offset < data_offset || e.offset % kWeightCacheAlignment != 0 || e.offset > file.size() ||
        e.bytes > file.size() - e.offset || !names.insert(e.name).second)
      return std::nullopt;
    entries.push_back(std::move(e));
  }
  if (at != table_end) return std::nullopt;
  return entries;
}

void SealWeightCacheHeader(std::span<uint8_t> file) {
  if (file.size() < kHeaderBytes) return;
  const uint64_t data_offset = Get<uint64_t>(file, 40);
  if (data_offset < kHeaderBytes || data_offset > file.size()) return;
  const uint64_t h = HeaderHash(file.first(data_offset));
  std::memcpy(file.data() + kHashOffset, &h, sizeof h);
}

bool WeightCacheEntryIntact(std::span<const uint8_t> file, const WeightCacheEntry& e) {
  return XXH3_64bits(file.data() + e.offset, e.bytes) == e.hash;
}

WeightCache::WeightCache(std::string dir, std::string stem, std::string source_key)
    : dir_(std::move(dir)), stem_(std::move(stem)), source_key_(std::move(source_key)) {}

std::string WeightCache::DefaultDir() {
  if (const char* p = std::getenv("QWENVL_WEIGHT_CACHE"); p != nullptr && *p != '\0') {
    const std::string v = p;
    return v == "off" || v == "none" ? "" : v;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/')
    return std::string(x) + "/qwenvl/weights";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/')
    return std::string(h) + "/.cache/qwenvl/weights";
  return "";
}

std::string WeightCache::ResolveDir(const std::string& setting) {
  if (setting.empty()) return DefaultDir();
  if (setting == "off" || setting == "none") return "";
  return setting;
}

std::string WeightCache::PathOf(WeightFormat format) const {
  if (dir_.empty()) return "";
  return dir_ + "/" + stem_ + "." + WeightFormatName(format) + ".qwcache";
}

std::string WeightCache::KeyOf(WeightFormat format) const {
  return source_key_ + "\nformat=" + WeightFormatName(format) +
         "\nlayout=" + std::to_string(kernels::kQuantLayoutVersion);
}

WeightCache::FormatState& WeightCache::Open(WeightFormat format) {
  FormatState& s = formats_[format];
  if (s.opened) return s;
  s.opened = true;
  if (dir_.empty()) return s;
  try {
    auto file = std::make_shared<const MappedFile>(PathOf(format));
    std::optional<std::vector<WeightCacheEntry>> entries =
        ParseWeightCacheFile(std::span(file->data(), file->size()), format, KeyOf(format));
    if (!entries) return s;  // damaged or another key: rebuilt by Commit
    for (WeightCacheEntry& e : *entries) s.entries.emplace(e.name, std::move(e));
    s.file = std::move(file);
  } catch (const Error&) {
    // Absent or unreadable: quantized and written.
  }
  return s;
}

std::optional<WeightCache::Found> WeightCache::Find(std::string_view name, WeightFormat format,
                                                    int64_t rows, int64_t cols) {
  std::lock_guard lock(mu_);
  if (dir_.empty() || name.empty()) return std::nullopt;
  FormatState& s = Open(format);
  if (!s.file) return std::nullopt;
  const auto it = s.entries.find(name);
  if (it == s.entries.end() || it->second.rows != rows || it->second.cols != cols)
    return std::nullopt;
  const std::span<const uint8_t> bytes(s.file->data(), s.file->size());
  if (!WeightCacheEntryIntact(bytes, it->second)) {
    s.entries.erase(it);  // quantized again, and the file rewritten
    return std::nullopt;
  }
  const kernels::WeightView view{s.file->data() + it->second.offset, format, rows, cols};
  s.used.push_back({std::string(name), view});
  ++hits_;
  return Found{view, s.file};
}

void WeightCache::Keep(std::string_view name, const kernels::WeightView& view,
                       std::shared_ptr<const void> owner) {
  std::lock_guard lock(mu_);
  if (dir_.empty() || name.empty()) return;
  FormatState& s = Open(view.type);
  s.used.push_back({std::string(name), view});
  s.owners.push_back(std::move(owner));
  s.dirty = true;
  ++misses_;
}

void WeightCache::Write(WeightFormat format, FormatState& s) {
  // A tensor bound twice (a tied matrix) is written once.
  std::vector<WeightCacheTensor> tensors;
  std::set<std::string, std::less<>> seen;
  for (const WeightCacheTensor& t : s.used)
    if (seen.insert(t.name).second) tensors.push_back(t);
  std::vector<WeightCacheEntry> entries;
  const std::vector<uint8_t> header =
      SerializeWeightCacheHeader(format, KeyOf(format), tensors, entries);
  const std::string path = PathOf(format);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(ErrorCode::kIo, dir_ + ": cannot create: " + ec.message());
  const std::string prefix = stem_ + "." + WeightFormatName(format) + ".tmp.";
  RemoveStaleTemporaries(dir_, prefix);
  std::string tmp = dir_ + "/" + prefix + "XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw Error(ErrorCode::kIo, dir_ + ": cannot create a file: " + std::strerror(errno));
  try {
    WriteAll(fd, header.data(), header.size(), tmp);
    uint64_t at = header.size();
    static constexpr uint8_t kZeros[kWeightCacheAlignment] = {};
    for (size_t i = 0; i < tensors.size(); ++i) {
      WriteAll(fd, kZeros, entries[i].offset - at, tmp);
      WriteAll(fd, tensors[i].view.data, entries[i].bytes, tmp);
      at = entries[i].offset + entries[i].bytes;
    }
    WriteAll(fd, kZeros, AlignUp(at, kWeightCacheAlignment) - at, tmp);
    const bool finished = ::fchmod(fd, 0644) == 0;
    const int closed = ::close(fd);
    fd = -1;
    if (!finished || closed != 0)
      throw Error(ErrorCode::kIo, tmp + ": cannot finish: " + std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, path + ": cannot rename into place: " + std::strerror(e));
  }
}

void WeightCache::Commit() {
  std::lock_guard lock(mu_);
  for (auto& [format, s] : formats_) {
    if (s.dirty) {
      try {
        Write(format, s);
      } catch (const Error& e) {
        problem_ = e.what();
        if (!warned_) {
          std::fprintf(stderr,
                       "qwenvl: warning: quantized weights not cached (%s); they are quantized "
                       "at each load\n",
                       e.what());
          warned_ = true;
        }
      }
    }
    // The weights keep their own storage; the file's list is no longer needed.
    s.used.clear();
    s.owners.clear();
    s.dirty = false;
  }
}

}  // namespace qwenvl::compute
