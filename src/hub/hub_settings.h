// Where the hub is and who we are to it, read from the environment exactly as huggingface_hub
// reads it, so that qwenvl and `hf download` share one cache and one login:
//   HF_ENDPOINT (default https://huggingface.co), HF_TOKEN, else the file HF_TOKEN_PATH, else
//   $HF_HOME/token; the cache HF_HUB_CACHE, else $HF_HOME/hub, HF_HOME defaulting to
//   $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace qwenvl::hub {

struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::string token;                                // empty: anonymous
  std::filesystem::path cache_root;
};

// `getenv` is injectable for tests; by default the process environment.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
std::optional<std::string> ProcessEnv(const char* name);
HubSettings SettingsFromEnvironment(const EnvLookup& getenv = ProcessEnv);

}  // namespace qwenvl::hub
