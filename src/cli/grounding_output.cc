#include "cli/grounding_output.h"

#include "media/draw.h"
#include "media/image_decode.h"
#include "util/error.h"

namespace qwenvl::cli {

GroundingOutput ExtractGrounding(const Request& request, const Result& result) {
  GroundingOutput out;
  out.media_index = runtime::GroundingMediaIndex(result.media);
  if (out.media_index < 0) return out;
  int index = 0;
  for (const Message& m : request.messages)
    for (const ContentPart& p : m.content)
      if (p.type == ContentPart::Type::kMedia && index++ == out.media_index) out.media = &p.media;
  const MediaInfo& info = result.media[out.media_index];
  for (const auto& item : runtime::ParseGrounding(result.text)) {
    out.resized.push_back(runtime::NormalizeResized(item, info));
    out.original.push_back(runtime::ToOriginalFrame(item, info));
  }
  out.items = out.original;
  return out;
}

void WriteBoxesPng(const GroundingOutput& g, const std::string& path) {
  if (g.media == nullptr || g.media->kind != Media::Kind::kImage)
    throw Error(ErrorCode::kInvalidArgument, "--boxes needs an image in the request");
  media::RgbImage image = g.media->path.empty() ? media::DecodeImage(g.media->bytes)
                                                : media::DecodeImageFile(g.media->path);
  std::vector<media::Annotation> annotations;
  for (const auto& item : g.original) {
    media::Annotation a;
    a.label = item.label;
    if (item.kind == runtime::GroundingItem::Kind::kBox) {
      a.kind = media::Annotation::Kind::kBox;
      a.x1 = item.coords[0], a.y1 = item.coords[1], a.x2 = item.coords[2], a.y2 = item.coords[3];
    } else {
      a.kind = media::Annotation::Kind::kPoint;
      a.x1 = item.coords[0], a.y1 = item.coords[1];
    }
    annotations.push_back(a);
  }
  media::DrawAnnotations(image, annotations);
  media::WritePng(path, image);
}

nlohmann::ordered_json MediaJson(const std::vector<MediaInfo>& media) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const MediaInfo& m : media) {
    nlohmann::ordered_json j;
    j["kind"] = m.kind == Media::Kind::kImage ? "image" : "video";
    j["original_size"] = {m.original_width, m.original_height};
    j["resized_size"] = {m.resized_width, m.resized_height};
    j["tokens"] = m.tokens;
    if (m.kind == Media::Kind::kVideo) {
      j["frame_indices"] = m.frame_indices;
      j["second_per_grid_t"] = m.second_per_grid_t;
    }
    arr.push_back(j);
  }
  return arr;
}

nlohmann::ordered_json GroundingJson(const GroundingOutput& g) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (size_t i = 0; i < g.resized.size(); ++i) {
    const bool box = g.resized[i].kind == runtime::GroundingItem::Kind::kBox;
    nlohmann::ordered_json j;
    j["label"] = g.resized[i].label;
    j["media_index"] = g.media_index;
    // As the server's qwenvl.grounding: the original picture's pixels under the model's own name,
    // the model's resized frame beside them.
    j[box ? "bbox_2d" : "point_2d"] = g.original[i].coords;
    j[box ? "bbox_2d_resized" : "point_2d_resized"] = g.resized[i].coords;
    arr.push_back(j);
  }
  return arr;
}

}  // namespace qwenvl::cli
