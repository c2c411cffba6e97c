#include "io/checkpoint_identity.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "util/error.h"
#include "util/sha256.h"

namespace qwenvl::io {
namespace {

namespace fs = std::filesystem;

bool IsSha256Name(const std::string& name) {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::string FileIdentity(const fs::path& file) {
  std::error_code ec;
  const fs::path real = fs::canonical(file, ec);
  if (ec) throw Error(ErrorCode::kIo, file.string() + ": cannot resolve: " + ec.message());
  if (real.parent_path().filename() == "blobs" && IsSha256Name(real.filename().string()))
    return "sha256=" + real.filename().string();
  struct stat st;
  if (::stat(real.c_str(), &st) != 0) throw Error(ErrorCode::kIo, real.string() + ": cannot stat");
  return "path=" + real.string() + " size=" + std::to_string(st.st_size) +
         " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

CheckpointIdentity IdentifyCheckpoint(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  }
  if (ec || files.empty())
    throw Error(ErrorCode::kNotFound, dir + ": no .safetensors files to identify");
  std::sort(files.begin(), files.end());
  CheckpointIdentity id;
  for (const fs::path& f : files) id.key += f.filename().string() + " " + FileIdentity(f) + "\n";

  fs::path folder = fs::canonical(dir, ec);
  if (ec) throw Error(ErrorCode::kIo, dir + ": cannot resolve: " + ec.message());
  if (folder.parent_path().filename() == "snapshots") folder = folder.parent_path().parent_path();
  std::string name = folder.filename().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') c = '_';
  id.stem = name.substr(0, 80) + "-" +
            Sha256Hex(std::span(reinterpret_cast<const uint8_t*>(folder.string().data()),
                                folder.string().size()))
                .substr(0, 16);
  return id;
}

}  // namespace qwenvl::io
