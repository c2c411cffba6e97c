#include "cli/plan_output.h"

#include <algorithm>

namespace qwenvl::cli {

std::string FlagOfField(const std::string& field) {
  const size_t dot = field.rfind('.');
  if (field.rfind("media[", 0) != 0 || dot == std::string::npos) return "";
  std::string name = field.substr(dot + 1);
  // The budgets `run` and `chat` take from the command line (run_options.cc).
  static const char* const kFlags[] = {"min_pixels", "max_pixels", "fps", "max_frames",
                                       "total_pixels"};
  if (std::find(std::begin(kFlags), std::end(kFlags), name) == std::end(kFlags)) return "";
  std::replace(name.begin(), name.end(), '_', '-');
  return "--" + name;
}

std::string PlanNotice(const RequestPlan& plan) {
  std::string text;
  for (const BudgetChange& c : plan.changes) {
    // The flags that set what was lowered: given, they are kept as they are.
    std::string pins;
    const auto pin = [&](bool changed, const char* flag) {
      if (changed) pins += (pins.empty() ? "" : "/") + std::string(flag);
    };
    pin(c.max_pixels_before != c.max_pixels_after, "--max-pixels");
    pin(c.total_pixels_before != c.total_pixels_after, "--total-pixels");
    pin(c.frames_before != c.frames_after, "--max-frames");
    text += c.Describe() + " to fit --ctx " + std::to_string(plan.context_length) + " (text " +
            std::to_string(plan.text_tokens) + ", answer reserve " +
            std::to_string(plan.reserve_tokens) + "); pin with " + pins + "\n";
  }
  return text;
}

Error WithFlag(const Error& error) {
  const std::string flag = FlagOfField(error.field());
  if (flag.empty()) return error;
  return Error(error.code(), std::string(error.what()) + " (" + flag + ")", error.field());
}

}  // namespace qwenvl::cli
