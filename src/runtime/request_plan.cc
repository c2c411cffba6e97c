#include "runtime/request_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <optional>
#include <string>

#include "media/video_sampling.h"
#include "util/error.h"

namespace qwenvl::runtime {

namespace {

// The pixels of one vision token (a 28x28 merged patch): lowered pixel budgets are multiples of it
// when the rounding keeps them within the target, so they read as whole token counts.
constexpr int64_t kTokenPixels = 28 * 28;

// Which budgets of an item the planner may lower: those the request left unset.
struct Freedom {
  bool pixels = false;  // max_pixels (pictures, frame lists) or total_pixels (videos)
  bool frames = false;  // the frame count of a video file (max_frames)
  bool any() const { return pixels || frames; }
};

Freedom FreedomOf(const Media& m, const MediaProbe& probe) {
  Freedom f;
  const bool sized = m.resized_height || m.resized_width;
  if (probe.kind == Media::Kind::kImage || probe.frame_list) {
    f.pixels = !m.max_pixels && !sized;
    return f;
  }
  f.pixels = !m.max_pixels && !m.total_pixels && !sized;
  f.frames = !m.fps && !m.nframes && !m.min_frames && !m.max_frames;
  return f;
}

// The settings of an item without its source (the planner copies them freely).
Media SettingsOf(const Media& m) {
  Media s;
  s.kind = m.kind;
  s.min_pixels = m.min_pixels;
  s.max_pixels = m.max_pixels;
  s.resized_height = m.resized_height;
  s.resized_width = m.resized_width;
  s.fps = m.fps;
  s.nframes = m.nframes;
  s.min_frames = m.min_frames;
  s.max_frames = m.max_frames;
  s.total_pixels = m.total_pixels;
  return s;
}

// The budgets a request set on an item, most decisive first: the one an error names.
std::vector<std::pair<std::string, std::string>> PinsOf(const Media& m) {
  std::vector<std::pair<std::string, std::string>> pins;
  const auto add = [&](const char* name, const auto& value) {
    if (value) pins.emplace_back(name, std::to_string(*value));
  };
  add("max_pixels", m.max_pixels);
  add("total_pixels", m.total_pixels);
  add("resized_height", m.resized_height);
  add("resized_width", m.resized_width);
  add("nframes", m.nframes);
  if (m.fps) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", *m.fps);
    pins.emplace_back("fps", text);
  }
  add("max_frames", m.max_frames);
  add("min_frames", m.min_frames);
  add("min_pixels", m.min_pixels);
  return pins;
}

// Largest v in [lo, hi] with fits(v), given fits(lo) (bisection over a predicate that is monotone
// in the processor's rules; lo is kept true throughout, so the answer fits even if it were not).
int64_t LargestFitting(int64_t lo, int64_t hi, const std::function<bool(int64_t)>& fits) {
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// A pixel budget rounded down to whole tokens when that stays above `floor` and still fits.
int64_t RoundToTokens(int64_t v, int64_t floor, const std::function<bool(int64_t)>& fits) {
  const int64_t rounded = v / kTokenPixels * kTokenPixels;
  return rounded >= floor && rounded != v && fits(rounded) ? rounded : v;
}

// One item being planned.
struct Item {
  const MediaProbe* probe = nullptr;
  Media settings;  // the request's settings, lowered budgets set as the plan goes
  Freedom freedom;
  MediaPlan requested;  // at the request's settings
  MediaPlan smallest;   // every free budget at its floor
  int64_t kind_number = 0;
};

class ItemPlanner {
 public:
  ItemPlanner(Item& item, const media::PreprocessorConfig& config) : item_(item), config_(config) {}

  MediaPlan PlanWith(std::optional<int64_t> max_pixels, std::optional<int64_t> total_pixels,
                     std::optional<int64_t> max_frames) const {
    Media s = item_.settings;
    if (max_pixels) s.max_pixels = max_pixels;
    if (total_pixels) s.total_pixels = total_pixels;
    if (max_frames) s.max_frames = max_frames;
    return PlanFromProbe(*item_.probe, s, config_);
  }

  bool Pictures() const {
    return item_.probe->kind == Media::Kind::kImage || item_.probe->frame_list;
  }

  // Pictures and frame lists: max_pixels may go down to min_pixels (smart_resize's own bound).
  int64_t MinPixels() const {
    if (item_.settings.min_pixels) return *item_.settings.min_pixels;
    if (item_.probe->kind == Media::Kind::kImage) return config_.min_pixels;
    return item_.probe->frame_list ? media::kDefaultMinPixels : media::kVideoMinPixels;
  }
  int64_t DefaultMaxPixels() const {
    return item_.probe->kind == Media::Kind::kImage ? config_.max_pixels : media::kDefaultMaxPixels;
  }
  // Videos: the total that puts each of `frames` frames at the per-frame floor, int(min · 1.05)
  // (model-spec §7.3): below it nothing changes.
  int64_t FloorTotalPixels(int64_t frames) const {
    const auto floor_pixels =
        static_cast<int64_t>(std::floor(static_cast<double>(MinPixels()) * 1.05));
    return std::max<int64_t>(1, frames / media::kFrameFactor * floor_pixels);
  }

  MediaPlan Smallest() const {
    if (Pictures()) {
      return item_.freedom.pixels ? PlanWith(MinPixels(), std::nullopt, std::nullopt)
                                  : item_.requested;
    }
    const int64_t frames = item_.freedom.frames ? media::kFrameFactor : item_.requested.frames;
    return PlanWith(std::nullopt,
                    item_.freedom.pixels ? std::optional(FloorTotalPixels(frames)) : std::nullopt,
                    item_.freedom.frames ? std::optional(frames) : std::nullopt);
  }

  // Lowers the free budgets so the item takes at most `target` tokens (target >= its smallest):
  // pictures by max_pixels; videos by total_pixels at the sampled frame count, and when that is
  // not enough, by the frame count (even), then the largest total_pixels those frames allow.
  BudgetChange Fit(int64_t target) {
    BudgetChange change;
    change.kind = item_.probe->kind;
    change.tokens_before = item_.requested.tokens;
    if (Pictures()) {
      const int64_t before = item_.settings.max_pixels.value_or(DefaultMaxPixels());
      const auto fits = [&](int64_t v) {
        return PlanWith(v, std::nullopt, std::nullopt).tokens <= target;
      };
      const int64_t floor = MinPixels();
      const int64_t chosen = RoundToTokens(LargestFitting(floor, before, fits), floor, fits);
      if (chosen != before) {  // unchanged: left unset, as the request had it
        item_.settings.max_pixels = chosen;
        change.max_pixels_before = before;
        change.max_pixels_after = chosen;
      }
    } else {
      const int64_t total_before = item_.settings.total_pixels.value_or(media::kVideoTotalPixels);
      const int64_t frames_before = item_.requested.frames;
      int64_t frames = frames_before;
      const auto total_fits = [&](int64_t frame_count) {
        return [this, frame_count, target](int64_t v) {
          return PlanWith(std::nullopt, v,
                          item_.freedom.frames ? std::optional(frame_count) : std::nullopt)
                     .tokens <= target;
        };
      };
      const bool pixels_enough =
          item_.freedom.pixels && total_fits(frames)(FloorTotalPixels(frames));
      if (!pixels_enough && item_.freedom.frames) {
        const auto frames_fit = [&](int64_t pairs) {
          const int64_t f = pairs * media::kFrameFactor;
          return PlanWith(std::nullopt,
                          item_.freedom.pixels ? std::optional(FloorTotalPixels(f)) : std::nullopt,
                          f)
                     .tokens <= target;
        };
        frames = LargestFitting(1, frames_before / media::kFrameFactor, frames_fit) *
                 media::kFrameFactor;
        item_.settings.max_frames = frames;
        change.frames_before = frames_before;
        change.frames_after = frames;
      }
      if (item_.freedom.pixels) {
        const auto fits = total_fits(frames);
        const int64_t floor = FloorTotalPixels(frames);
        const int64_t chosen =
            RoundToTokens(LargestFitting(floor, total_before, fits), floor, fits);
        // Unchanged (frames at the per-frame floor whatever the total, e.g. a small video raised
        // to min_pixels): left unset, as the request had it.
        if (chosen != total_before) {
          item_.settings.total_pixels = chosen;
          change.total_pixels_before = total_before;
          change.total_pixels_after = chosen;
        }
      }
    }
    change.tokens_after = PlanFromProbe(*item_.probe, item_.settings, config_).tokens;
    QWENVL_CHECK(change.tokens_after <= target);
    return change;
  }

 private:
  Item& item_;
  const media::PreprocessorConfig& config_;
};

std::string KindName(Media::Kind kind) { return kind == Media::Kind::kImage ? "image" : "video"; }

[[noreturn]] void RefuseTooLarge(const std::vector<Item>& items, int64_t text_tokens,
                                 int64_t reserve_tokens, int64_t context_length) {
  int64_t media_tokens = 0;
  for (const Item& item : items) media_tokens += item.smallest.tokens;
  constexpr size_t kNamed = 8;
  std::string described;
  for (size_t i = 0; i < items.size() && i < kNamed; ++i) {
    described += (i ? "; " : "") + items[i].smallest.Describe();
  }
  if (items.size() > kNamed) {
    described += "; and " + std::to_string(items.size() - kNamed) + " more";
  }
  std::string message =
      "the media need " + std::to_string(media_tokens) + " vision tokens (" + described + ")" +
      (text_tokens > 0 ? " and the text " + std::to_string(text_tokens) + " more" : "") +
      ", with " + std::to_string(reserve_tokens) + " kept for the answer, but the context holds " +
      std::to_string(context_length) + " tokens";
  // The budget to name: the first one set on the item that takes the most tokens.
  const Item* blamed = nullptr;
  size_t blamed_index = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (PinsOf(items[i].settings).empty()) continue;
    if (!blamed || items[i].smallest.tokens > blamed->smallest.tokens) {
      blamed = &items[i];
      blamed_index = i;
    }
  }
  if (!blamed) {
    throw Error(ErrorCode::kOutOfRange,
                message +
                    " even with every picture and video at the smallest budget the processor "
                    "allows; send fewer pictures or frames, or raise the context length");
  }
  const auto pins = PinsOf(blamed->settings);
  std::string set;
  for (size_t i = 0; i < pins.size(); ++i) {
    set += (i ? ", " : "") + pins[i].first + " " + pins[i].second;
  }
  throw Error(ErrorCode::kOutOfRange,
              message + "; " + KindName(blamed->probe->kind) + " " +
                  std::to_string(blamed->kind_number) + " is set to " + set +
                  " by the request: lower " + (pins.size() > 1 ? "them" : "it") + ", or leave " +
                  (pins.size() > 1 ? "them" : "it") +
                  " unset for the engine to fit the item, or raise the context length",
              "media[" + std::to_string(blamed_index) + "]." + pins.front().first);
}

}  // namespace

int64_t AnswerReserve(int64_t max_new_tokens, int64_t context_length) {
  return std::clamp<int64_t>(max_new_tokens, 1, std::max<int64_t>(1, context_length / 4));
}

PlannedMedia PlanRequestMedia(std::span<const Media* const> media,
                              std::span<const MediaProbe> probes, int64_t text_tokens,
                              int64_t reserve_tokens, int64_t context_length,
                              const media::PreprocessorConfig& config) {
  QWENVL_CHECK(media.size() == probes.size());
  if (context_length < 1 || text_tokens < 0 || reserve_tokens < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "request planning: context " + std::to_string(context_length) + ", text " +
                    std::to_string(text_tokens) + " and reserve " + std::to_string(reserve_tokens) +
                    " tokens: a positive context and no negative count expected");
  }
  std::vector<Item> items(media.size());
  int64_t images = 0, videos = 0;
  for (size_t i = 0; i < media.size(); ++i) {
    Item& item = items[i];
    item.probe = &probes[i];
    item.settings = SettingsOf(*media[i]);
    item.settings.kind = probes[i].kind;
    item.freedom = FreedomOf(item.settings, probes[i]);
    item.kind_number = probes[i].kind == Media::Kind::kImage ? ++images : ++videos;
    item.requested = PlanFromProbe(probes[i], item.settings, config);
    item.smallest = item.freedom.any() ? ItemPlanner(item, config).Smallest() : item.requested;
  }
  PlannedMedia out;
  RequestPlan& plan = out.plan;
  plan.context_length = context_length;
  plan.text_tokens = text_tokens;
  plan.reserve_tokens = reserve_tokens;
  for (const Item& item : items) plan.media_tokens_requested += item.requested.tokens;
  // Tokens the media may take: what the text and the answer leave (negative: not even those fit).
  const int64_t room = context_length - text_tokens - reserve_tokens;
  if (plan.media_tokens_requested > room) {
    int64_t fixed = 0, smallest = 0, lowerable_requested = 0;
    std::vector<size_t> lowerable;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].freedom.any() && items[i].smallest.tokens < items[i].requested.tokens) {
        lowerable.push_back(i);
        smallest += items[i].smallest.tokens;
        lowerable_requested += items[i].requested.tokens;
      } else {
        fixed += items[i].requested.tokens;
      }
    }
    const int64_t available = room - fixed;
    if (available < smallest) RefuseTooLarge(items, text_tokens, reserve_tokens, context_length);
    // Each item's share of what is available, in proportion to what it asked for, and never below
    // its smallest: the items whose smallest is above their share (the largest ratio first) take
    // their smallest, the others share the rest.
    std::sort(lowerable.begin(), lowerable.end(), [&](size_t a, size_t b) {
      const __int128 lhs =
          static_cast<__int128>(items[a].smallest.tokens) * items[b].requested.tokens;
      const __int128 rhs =
          static_cast<__int128>(items[b].smallest.tokens) * items[a].requested.tokens;
      return lhs != rhs ? lhs > rhs : a < b;
    });
    std::vector<int64_t> target(items.size(), 0);
    int64_t left = available, asked = lowerable_requested;
    size_t k = 0;
    for (; k < lowerable.size(); ++k) {
      const Item& item = items[lowerable[k]];
      if (static_cast<__int128>(item.smallest.tokens) * asked <=
          static_cast<__int128>(left) * item.requested.tokens) {
        break;
      }
      target[lowerable[k]] = item.smallest.tokens;
      left -= item.smallest.tokens;
      asked -= item.requested.tokens;
    }
    for (; k < lowerable.size(); ++k) {
      const Item& item = items[lowerable[k]];
      target[lowerable[k]] =
          static_cast<int64_t>(static_cast<__int128>(left) * item.requested.tokens / asked);
    }
    for (const size_t i : lowerable) {
      BudgetChange change = ItemPlanner(items[i], config).Fit(target[i]);
      change.media = i;
      change.kind_number = items[i].kind_number;
      plan.changes.push_back(change);
    }
  }
  for (Item& item : items) {
    out.items.push_back(PlanFromProbe(*item.probe, item.settings, config));
    plan.media_tokens += out.items.back().tokens;
    out.settings.push_back(std::move(item.settings));
  }
  return out;
}

nlohmann::ordered_json RequestPlanJson(const RequestPlan& plan) {
  nlohmann::ordered_json j;
  j["context_length"] = plan.context_length;
  j["text_tokens"] = plan.text_tokens;
  j["reserve_tokens"] = plan.reserve_tokens;
  j["media_tokens_requested"] = plan.media_tokens_requested;
  j["media_tokens"] = plan.media_tokens;
  j["changes"] = nlohmann::ordered_json::array();
  for (const BudgetChange& c : plan.changes) {
    nlohmann::ordered_json change;
    change["media"] = c.media;
    change["kind"] = c.kind == Media::Kind::kImage ? "image" : "video";
    change["tokens_before"] = c.tokens_before;
    change["tokens_after"] = c.tokens_after;
    const auto add = [&](const char* name, int64_t before, int64_t after) {
      if (before != after) change[name] = {{"before", before}, {"after", after}};
    };
    add("max_pixels", c.max_pixels_before, c.max_pixels_after);
    add("total_pixels", c.total_pixels_before, c.total_pixels_after);
    add("frames", c.frames_before, c.frames_after);
    change["description"] = c.Describe();
    j["changes"].push_back(std::move(change));
  }
  return j;
}

void ApplyPlannedSettings(const PlannedMedia& planned, Request& request) {
  size_t k = 0;
  for (Message& message : request.messages) {
    for (ContentPart& part : message.content) {
      if (part.type != ContentPart::Type::kMedia) continue;
      QWENVL_CHECK(k < planned.settings.size());
      const Media& s = planned.settings[k++];
      part.media.max_pixels = s.max_pixels;
      part.media.total_pixels = s.total_pixels;
      part.media.max_frames = s.max_frames;
    }
  }
  QWENVL_CHECK(k == planned.settings.size());
}

}  // namespace qwenvl::runtime

namespace qwenvl {

std::string BudgetChange::Describe() const {
  std::string settings;
  const auto add = [&](const std::string& text) {
    settings += (settings.empty() ? "" : ", ") + text;
  };
  if (max_pixels_before != max_pixels_after) {
    add("max_pixels " + std::to_string(max_pixels_before) + " -> " +
        std::to_string(max_pixels_after));
  }
  if (total_pixels_before != total_pixels_after) {
    add("total_pixels " + std::to_string(total_pixels_before) + " -> " +
        std::to_string(total_pixels_after));
  }
  if (frames_before != frames_after) {
    add(std::to_string(frames_before) + " -> " + std::to_string(frames_after) + " frames");
  }
  return (kind == Media::Kind::kImage ? "image " : "video ") + std::to_string(kind_number) +
         " reduced from " + std::to_string(tokens_before) + " to " + std::to_string(tokens_after) +
         " tokens (" + settings + ")";
}

}  // namespace qwenvl
