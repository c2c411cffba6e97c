// qwenvl list: the models in the Hugging Face cache (name, revisions and their commits, size on
// disk, whether every file is complete).
#include <cstdio>

#include "cli/commands.h"
#include "cli/pull_progress.h"
#include "hub/cache_layout.h"
#include "hub/hub_settings.h"

namespace qwenvl::cli {

void AddListCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("list", "List the models in the Hugging Face cache");
  cmd->callback([] {
    const hub::HubSettings settings = hub::SettingsFromEnvironment();
    const auto models = hub::ListCachedModels(settings.cache_root);
    if (models.empty()) {
      std::fprintf(stderr, "no models in %s\n", settings.cache_root.c_str());
      return;
    }
    std::printf("%-44s %-24s %-12s %10s %6s  %s\n", "NAME", "REVISION", "COMMIT", "SIZE", "FILES",
                "STATUS");
    for (const hub::CachedModel& m : models) {
      std::string revision = "-", commit = m.snapshots.empty() ? "-" : m.snapshots.back();
      if (!m.revisions.empty()) {
        revision = m.revisions.front();
        commit = m.revision_commits.front();
        for (size_t i = 1; i < m.revisions.size(); ++i) revision += "," + m.revisions[i];
      }
      std::string status = "complete";
      const auto count = [](int n, const char* what) {
        return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
      };
      if (m.incomplete_blobs) status = count(m.incomplete_blobs, "partial download");
      if (m.missing_files) status = count(m.missing_files, "missing file");
      if (m.files == 0) status = "empty";
      std::printf("%-44s %-24s %-12s %10s %6d  %s\n", m.repo_id.c_str(), revision.c_str(),
                  commit.substr(0, 12).c_str(), HumanBytes(m.size_on_disk).c_str(), m.files,
                  status.c_str());
    }
  });
}

}  // namespace qwenvl::cli
