// Located objects of an answer (model-spec §10) for the command line: parsed from the answer,
// given in the resized frame the model used and in the original picture, drawn with --boxes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qwenvl/engine.h"
#include "runtime/grounding.h"

namespace qwenvl::cli {

struct GroundingOutput {
  int media_index = -1;                          // the picture the boxes refer to (-1: none)
  const Media* media = nullptr;                  // its source in the request
  std::vector<runtime::GroundingItem> resized;   // in the model's resized frame
  std::vector<runtime::GroundingItem> original;  // mapped to the original picture
  std::vector<runtime::GroundingItem> items;     // alias of original, for counting
};

GroundingOutput ExtractGrounding(const Request& request, const Result& result);
// Throws Error when there is no picture to draw on.
void WriteBoxesPng(const GroundingOutput& grounding, const std::string& path);

nlohmann::ordered_json MediaJson(const std::vector<MediaInfo>& media);
nlohmann::ordered_json GroundingJson(const GroundingOutput& grounding);

}  // namespace qwenvl::cli
