// Grounding extraction: scan for balanced {...} objects and keep those with bbox_2d / point_2d.
#include "runtime/grounding.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace qwenvl::runtime {
namespace {

// The index one past the '}' matching the '{' at `open`, skipping braces inside JSON strings;
// npos when the object is not closed (an answer cut by max_tokens).
size_t MatchingBrace(std::string_view text, size_t open) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<std::vector<double>> Numbers(const nlohmann::json& value, size_t count) {
  if (!value.is_array() || value.size() != count) return std::nullopt;
  std::vector<double> out;
  for (const auto& v : value) {
    if (!v.is_number()) return std::nullopt;
    out.push_back(v.get<double>());
  }
  return out;
}

std::optional<GroundingItem> ItemFromObject(const nlohmann::json& object) {
  GroundingItem item;
  std::optional<std::vector<double>> coords;
  if (auto it = object.find("bbox_2d"); it != object.end()) {
    coords = Numbers(*it, 4);
    item.kind = GroundingItem::Kind::kBox;
  } else if (auto pt = object.find("point_2d"); pt != object.end()) {
    coords = Numbers(*pt, 2);
    item.kind = GroundingItem::Kind::kPoint;
  }
  if (!coords) return std::nullopt;
  item.coords = std::move(*coords);
  if (auto label = object.find("label"); label != object.end() && label->is_string()) {
    item.label = label->get<std::string>();
  }
  return item;
}

double Clamp(double v, double hi) { return std::clamp(v, 0.0, std::max(hi, 0.0)); }

}  // namespace

std::vector<GroundingItem> ParseGrounding(std::string_view answer) {
  std::vector<GroundingItem> items;
  size_t pos = 0;
  while ((pos = answer.find('{', pos)) != std::string_view::npos) {
    const size_t end = MatchingBrace(answer, pos);
    if (end == std::string_view::npos) break;  // the rest is an unclosed object
    const auto object = nlohmann::json::parse(answer.substr(pos, end - pos), nullptr,
                                              /*allow_exceptions=*/false);
    if (object.is_object()) {
      if (auto item = ItemFromObject(object)) {
        items.push_back(std::move(*item));
        pos = end;
        continue;
      }
    }
    ++pos;  // not an item (or not JSON): look inside it
  }
  return items;
}

GroundingItem NormalizeResized(const GroundingItem& item, const MediaInfo& media) {
  GroundingItem out = item;
  auto& c = out.coords;
  for (size_t i = 0; i < c.size(); ++i) {
    const bool is_x = i % 2 == 0;
    const int size = is_x ? media.resized_width : media.resized_height;
    c[i] = size > 0 ? Clamp(c[i], size) : std::max(c[i], 0.0);
  }
  if (out.kind == GroundingItem::Kind::kBox && c.size() == 4) {
    if (c[0] > c[2]) std::swap(c[0], c[2]);
    if (c[1] > c[3]) std::swap(c[1], c[3]);
  }
  return out;
}

GroundingItem ToOriginalFrame(const GroundingItem& item, const MediaInfo& media) {
  GroundingItem out = NormalizeResized(item, media);
  for (size_t i = 0; i < out.coords.size(); ++i) {
    const bool is_x = i % 2 == 0;
    const int resized = is_x ? media.resized_width : media.resized_height;
    const int original = is_x ? media.original_width : media.original_height;
    if (resized > 0 && original > 0) {
      out.coords[i] = Clamp(out.coords[i] * original / resized, original);
    }
  }
  return out;
}

int GroundingMediaIndex(const std::vector<MediaInfo>& media) {
  for (int i = static_cast<int>(media.size()) - 1; i >= 0; --i) {
    if (media[i].kind == Media::Kind::kImage) return i;
  }
  return -1;
}

}  // namespace qwenvl::runtime
