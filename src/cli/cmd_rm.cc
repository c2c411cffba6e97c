// qwenvl rm ORG/NAME: removes a model's folder (every revision) from the Hugging Face cache.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/pull_progress.h"
#include "hub/cache_layout.h"
#include "hub/hub_settings.h"
#include "hub/model_ref.h"
#include "util/error.h"

namespace qwenvl::cli {

void AddRmCommand(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("rm", "Remove a model (all its revisions) from the Hugging Face cache");
  cmd->add_option("MODEL", *model, "ORG/NAME")->required();
  cmd->callback([model] {
    const hub::ModelRef ref = hub::ParseModelRef(*model);
    if (model->find('@') != std::string::npos)
      throw Error(ErrorCode::kInvalidArgument,
                  "rm removes every revision of a model: give ORG/NAME without '@'");
    const hub::HubSettings settings = hub::SettingsFromEnvironment();
    const uint64_t freed = hub::RemoveCachedModel(settings.cache_root, ref);
    std::fprintf(stderr, "removed %s (%s)\n", ref.RepoId().c_str(), HumanBytes(freed).c_str());
  });
}

}  // namespace qwenvl::cli
