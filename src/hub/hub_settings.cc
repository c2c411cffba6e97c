#include "hub/hub_settings.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace qwenvl::hub {
namespace {

std::string Trim(std::string s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

}  // namespace

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

HubSettings SettingsFromEnvironment(const EnvLookup& getenv) {
  namespace fs = std::filesystem;
  HubSettings s;
  if (auto e = getenv("HF_ENDPOINT")) s.endpoint = *e;
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();

  fs::path home;
  if (auto h = getenv("HF_HOME")) {
    home = *h;
  } else if (auto x = getenv("XDG_CACHE_HOME")) {
    home = fs::path(*x) / "huggingface";
  } else {
    home = fs::path(getenv("HOME").value_or("/")) / ".cache" / "huggingface";
  }
  if (auto c = getenv("HF_HUB_CACHE")) {
    s.cache_root = *c;
  } else {
    s.cache_root = home / "hub";
  }

  if (auto t = getenv("HF_TOKEN")) {
    s.token = Trim(*t);
  } else {
    const fs::path token_file = getenv("HF_TOKEN_PATH").value_or((home / "token").string());
    std::ifstream in(token_file);
    if (in) {
      std::string line;
      std::getline(in, line);  // the token file holds one line
      if (line.size() <= 4096) s.token = Trim(line);
    }
  }
  return s;
}

}  // namespace qwenvl::hub
