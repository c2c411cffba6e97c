// How `run` and `chat` show the engine's request plan: a line on stderr when budgets were lowered
// to fit the context, a "plan" object in --json, and the command-line flag named in an error about
// a budget the user set. The JSON is runtime::RequestPlanJson (the server's too).
#pragma once

#include <string>

#include "qwenvl/engine.h"

namespace qwenvl::cli {

// "media[0].total_pixels" -> "--total-pixels"; "" for a field no flag sets.
std::string FlagOfField(const std::string& field);

// One line per lowered item: "video 1 reduced from 114840 to 15800 tokens (total_pixels 90316800
// -> 12000000, 768 -> 96 frames) to fit --ctx 32768; pin with --total-pixels/--max-frames". Empty
// when nothing was lowered.
std::string PlanNotice(const RequestPlan& plan);

// The error with the flag that set the field it names appended; the error itself otherwise.
Error WithFlag(const Error& error);

}  // namespace qwenvl::cli
