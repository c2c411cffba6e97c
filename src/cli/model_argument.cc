#include "cli/model_argument.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/pull_progress.h"
#include "hub/cache_layout.h"
#include "hub/hub_settings.h"
#include "hub/model_ref.h"
#include "hub/pull.h"
#include "util/error.h"

namespace qwenvl::cli {

std::string ResolveModelArgument(const std::string& argument) {
  std::error_code ec;
  if (std::filesystem::exists(argument, ec)) return argument;
  const auto ref = hub::TryParseModelRef(argument);
  if (!ref) return argument;  // the loader reports the missing folder
  const hub::HubSettings settings = hub::SettingsFromEnvironment();
  if (auto snapshot = hub::FindCachedModel(settings.cache_root, *ref)) return snapshot->string();
  const std::string pull = "qwenvl pull " + ref->RepoId() +
                           (ref->revision == "main" ? "" : " --revision " + ref->revision);
  if (isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
    std::fprintf(stderr, "%s is not in the cache (%s); pull it now? [y/N] ", argument.c_str(),
                 settings.cache_root.c_str());
    std::string answer;
    std::getline(std::cin, answer);
    if (answer == "y" || answer == "Y" || answer == "yes") {
      PullProgress progress(stderr, true);
      hub::Pull(settings, *ref, {}, &progress);
      progress.Finish();
      if (auto snapshot = hub::FindCachedModel(settings.cache_root, *ref))
        return snapshot->string();
      throw Error(ErrorCode::kNotFound, ref->RepoId() + " was pulled but holds no config.json");
    }
  }
  throw Error(ErrorCode::kNotFound, "no folder '" + argument + "', and the model " + ref->RepoId() +
                                        "@" + ref->revision + " is not in the cache (" +
                                        settings.cache_root.string() + "): fetch it with `" + pull +
                                        "`");
}

CLI::Validator ModelArgument() {
  return CLI::Validator(
      [](std::string& value) {
        value = ResolveModelArgument(value);
        return std::string();
      },
      "DIR|ORG/NAME[@REV]");
}

}  // namespace qwenvl::cli
