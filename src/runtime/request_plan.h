// The context is the budget: a request's text, the answer's reserve and its media planned together
// from the media's headers, before any pixel is decoded. When they do not fit, the budgets of the
// media the request left unset are lowered by the processor's own rules (pictures: max_pixels;
// videos: total_pixels, then the frame count in steps of two) until they do; budgets the request
// set are kept, or the request is refused naming one of them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "media/preprocessor_config.h"
#include "qwenvl/engine.h"
#include "runtime/media_input.h"

namespace qwenvl::runtime {

// The answer's share of the context the planner keeps free: max_new_tokens, at least 1 and at most
// a quarter of the context (a larger max_new_tokens still runs until the context is full; the
// media are not squeezed to nothing for an answer that long).
int64_t AnswerReserve(int64_t max_new_tokens, int64_t context_length);

// The plan of a request and the settings each item is to be prepared with (the request's own,
// with the lowered budgets set where the plan lowered them).
struct PlannedMedia {
  RequestPlan plan;
  std::vector<Media> settings;   // per item: a copy of the item's settings (sources left empty)
  std::vector<MediaPlan> items;  // per item, at those settings
};

// A pure function of its inputs: media[k] and probes[k] describe item k in prompt order. Throws
// Error(kOutOfRange) when the request cannot fit even with every budget it left unset at its
// smallest: the message lists the items, the field (Error::field) names a budget the request set
// ("media[K].max_pixels") when there is one, the largest item's first. Throws
// Error(kInvalidArgument) for settings the processor's rules refuse, and for a context below 1 or a
// negative text count.
PlannedMedia PlanRequestMedia(std::span<const Media* const> media,
                              std::span<const MediaProbe> probes, int64_t text_tokens,
                              int64_t reserve_tokens, int64_t context_length,
                              const media::PreprocessorConfig& config);

// The plan for the command line's --json and the server's answers: {"context_length",
// "text_tokens", "reserve_tokens", "media_tokens_requested", "media_tokens", "changes": [{"media",
// "kind", "tokens_before", "tokens_after", then each setting changed as {"before", "after"}
// ("max_pixels", "total_pixels", "frames"), "description"}]}.
nlohmann::ordered_json RequestPlanJson(const RequestPlan& plan);

// Copies the planned settings into the request's media (in prompt order).
void ApplyPlannedSettings(const PlannedMedia& planned, Request& request);

}  // namespace qwenvl::runtime
