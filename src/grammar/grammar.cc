#include "grammar/grammar.h"

#include <algorithm>

#include "qwenvl/error.h"

namespace qwenvl::grammar {

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// Ranges sorted, merged, surrogates removed; `negated` complements over all code points.
std::vector<CodeRange> NormalizeRanges(std::vector<CodeRange> ranges, bool negated) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<CodeRange> merged;
  for (auto [lo, hi] : ranges) {
    if (lo > hi) continue;
    hi = std::min(hi, kMaxCodePoint);
    if (!merged.empty() && lo <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, hi);
    else
      merged.push_back({lo, hi});
  }
  if (negated) {
    std::vector<CodeRange> complement;
    uint32_t next = 0;
    for (auto [lo, hi] : merged) {
      if (lo > next) complement.push_back({next, lo - 1});
      next = hi + 1;
    }
    if (next <= kMaxCodePoint) complement.push_back({next, kMaxCodePoint});
    merged = std::move(complement);
  }
  std::vector<CodeRange> out;  // without U+D800..U+DFFF, which UTF-8 cannot carry
  for (auto [lo, hi] : merged) {
    if (hi < 0xD800 || lo > 0xDFFF) {
      out.push_back({lo, hi});
      continue;
    }
    if (lo < 0xD800) out.push_back({lo, 0xD7FF});
    if (hi > 0xDFFF) out.push_back({0xE000, hi});
  }
  return out;
}

int Utf8Length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

// The byte at index i (0 = lead) of the n-byte UTF-8 form of cp.
uint8_t Utf8Byte(uint32_t cp, int n, int i) {
  if (i == 0) {
    static constexpr uint8_t kLead[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    return static_cast<uint8_t>(kLead[n] | (cp >> (6 * (n - 1))));
  }
  return static_cast<uint8_t>(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
}

// Splits [lo, hi] (same UTF-8 length n) into ranges whose UTF-8 forms are products of byte
// ranges: each piece varies freely in its trailing bytes below the first that differs.
void SplitUtf8(uint32_t lo, uint32_t hi, int n,
               std::vector<std::vector<std::pair<uint8_t, uint8_t>>>* out) {
  for (int i = n - 1; i >= 1; --i) {
    const uint32_t mask = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) == (hi & ~mask)) continue;
    if ((lo & mask) != 0) {
      SplitUtf8(lo, lo | mask, n, out);
      SplitUtf8((lo | mask) + 1, hi, n, out);
      return;
    }
    if ((hi & mask) != mask) {
      SplitUtf8(lo, (hi & ~mask) - 1, n, out);
      SplitUtf8(hi & ~mask, hi, n, out);
      return;
    }
  }
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (int i = 0; i < n; ++i) seq.push_back({Utf8Byte(lo, n, i), Utf8Byte(hi, n, i)});
  out->push_back(std::move(seq));
}

}  // namespace

int32_t GrammarBuilder::RuleId(const std::string& name) {
  const auto [it, inserted] = rule_ids_.emplace(name, static_cast<int32_t>(grammar_.rules.size()));
  if (inserted) grammar_.rules.push_back({name, {}});
  return it->second;
}

int32_t GrammarBuilder::NewHelperRule(const std::string& base) {
  // Helper names hold a character no GBNF name can, so they never meet a user's rule.
  grammar_.rules.push_back({base + "#" + std::to_string(grammar_.rules.size()), {}});
  return static_cast<int32_t>(grammar_.rules.size() - 1);
}

void GrammarBuilder::AddAlternative(int32_t rule, const Sequence& sequence) {
  if (grammar_.elements.size() + sequence.size() + 1 > kMaxGrammarElements)
    throw Error(ErrorCode::kInvalidArgument, "grammar: too large (more than " +
                                                 std::to_string(kMaxGrammarElements) +
                                                 " elements once repetitions are expanded)");
  grammar_.rules[rule].alternatives.push_back(static_cast<int32_t>(grammar_.elements.size()));
  grammar_.elements.insert(grammar_.elements.end(), sequence.begin(), sequence.end());
  grammar_.elements.push_back({Element::Kind::kEnd, 0});
}

int32_t GrammarBuilder::ByteSetIndex(const ByteSet& set) {
  for (size_t i = 0; i < grammar_.byte_sets.size(); ++i)
    if (grammar_.byte_sets[i] == set) return static_cast<int32_t>(i);
  grammar_.byte_sets.push_back(set);
  return static_cast<int32_t>(grammar_.byte_sets.size() - 1);
}

void GrammarBuilder::AppendLiteral(std::string_view text, Sequence* out) {
  for (unsigned char c : text) {
    ByteSet set;
    set.Add(c);
    out->push_back({Element::Kind::kBytes, ByteSetIndex(set)});
  }
}

void GrammarBuilder::AppendClass(std::vector<CodeRange> ranges, bool negated, Sequence* out) {
  ranges = NormalizeRanges(std::move(ranges), negated);
  if (ranges.empty())
    throw Error(ErrorCode::kInvalidArgument, "grammar: a character class matches nothing");
  if (ranges.back().second < 0x80) {
    ByteSet set;
    for (auto [lo, hi] : ranges) set.AddRange(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
    out->push_back({Element::Kind::kBytes, ByteSetIndex(set)});
    return;
  }
  for (const auto& [key, rule] : class_rules_) {
    if (key == ranges) return AppendRule(rule, out);
  }
  const int32_t rule = NewHelperRule("char-class");
  class_rules_.push_back({ranges, rule});
  ByteSet ascii;
  bool has_ascii = false;
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
  for (auto [lo, hi] : ranges) {
    // Cut at the UTF-8 length boundaries, then into byte-range products.
    for (uint32_t start = lo; start <= hi;) {
      const int n = Utf8Length(start);
      const uint32_t end = std::min(hi, n == 1   ? 0x7Fu
                                        : n == 2 ? 0x7FFu
                                        : n == 3 ? 0xFFFFu
                                                 : kMaxCodePoint);
      if (n == 1) {
        ascii.AddRange(static_cast<uint8_t>(start), static_cast<uint8_t>(end));
        has_ascii = true;
      } else {
        SplitUtf8(start, end, n, &seqs);
      }
      start = end + 1;
    }
  }
  if (has_ascii) AddAlternative(rule, {{Element::Kind::kBytes, ByteSetIndex(ascii)}});
  for (const auto& seq : seqs) {
    Sequence alt;
    for (auto [blo, bhi] : seq) {
      ByteSet set;
      set.AddRange(blo, bhi);
      alt.push_back({Element::Kind::kBytes, ByteSetIndex(set)});
    }
    AddAlternative(rule, alt);
  }
  AppendRule(rule, out);
}

void GrammarBuilder::AppendRepeat(const Element& item, int64_t min, int64_t max, Sequence* out) {
  if (min < 0 || min > kMaxRepeat || max > kMaxRepeat || (max >= 0 && max < min))
    throw Error(ErrorCode::kInvalidArgument,
                "grammar: repetition bounds {" + std::to_string(min) + "," + std::to_string(max) +
                    "} out of range (0 <= min <= max <= " + std::to_string(kMaxRepeat) + ")");
  for (int64_t i = 0; i < min; ++i) {
    out->push_back(item);
    if (out->size() > kMaxGrammarElements)
      throw Error(ErrorCode::kInvalidArgument, "grammar: too large once repetitions are expanded");
  }
  if (max < 0) {  // star ::= item star | ""   (right recursion: the matcher's stack stays flat)
    const int32_t star = NewHelperRule("repeat");
    AddAlternative(star, {item, {Element::Kind::kRule, star}});
    AddAlternative(star, {});
    AppendRule(star, out);
    return;
  }
  // opt_k ::= item opt_{k-1} | ""  for the (max - min) optional copies.
  int32_t tail = -1;
  for (int64_t k = 0; k < max - min; ++k) {
    const int32_t opt = NewHelperRule("repeat");
    Sequence first{item};
    if (tail >= 0) first.push_back({Element::Kind::kRule, tail});
    AddAlternative(opt, first);
    AddAlternative(opt, {});
    tail = opt;
  }
  if (tail >= 0) AppendRule(tail, out);
}

Grammar GrammarBuilder::Finish(const std::string& root_name) {
  Grammar& g = grammar_;
  g.root = -1;
  for (size_t i = 0; i < g.rules.size(); ++i) {
    if (g.rules[i].name == root_name) g.root = static_cast<int32_t>(i);
    if (g.rules[i].alternatives.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  "grammar: rule '" + g.rules[i].name + "' is used but never defined");
  }
  if (g.root < 0)
    throw Error(ErrorCode::kInvalidArgument, "grammar: no rule named '" + root_name + "'");
  // Nullable rules (they can match nothing), to a fixed point.
  std::vector<uint8_t> nullable(g.rules.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rules.size(); ++r) {
      if (nullable[r]) continue;
      for (int32_t pos : g.rules[r].alternatives) {
        bool all = true;
        for (int32_t p = pos; g.elements[p].kind != Element::Kind::kEnd && all; ++p)
          all = g.elements[p].kind == Element::Kind::kRule && nullable[g.elements[p].value];
        if (all) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  // Left recursion: a rule reachable from itself without consuming a byte would make the matcher
  // expand forever.
  std::vector<std::vector<int32_t>> first_refs(g.rules.size());
  for (size_t r = 0; r < g.rules.size(); ++r) {
    for (int32_t pos : g.rules[r].alternatives) {
      for (int32_t p = pos; g.elements[p].kind == Element::Kind::kRule; ++p) {
        first_refs[r].push_back(g.elements[p].value);
        if (!nullable[g.elements[p].value]) break;
      }
    }
  }
  // Depth-first, with an explicit stack: a hostile grammar may chain a million rules.
  std::vector<uint8_t> color(g.rules.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<int32_t, size_t>> path;   // rule, next edge to follow
  for (size_t start = 0; start < g.rules.size(); ++start) {
    if (color[start] != 0) continue;
    color[start] = 1;
    path.push_back({static_cast<int32_t>(start), 0});
    while (!path.empty()) {
      auto& [r, edge] = path.back();
      if (edge == first_refs[r].size()) {
        color[r] = 2;
        path.pop_back();
        continue;
      }
      const int32_t next = first_refs[r][edge++];
      if (color[next] == 1)
        throw Error(ErrorCode::kInvalidArgument,
                    "grammar: rule '" + g.rules[next].name +
                        "' is left-recursive (it can reach itself without matching a character)");
      if (color[next] == 0) {
        color[next] = 1;
        path.push_back({next, 0});
      }
    }
  }
  return std::move(g);
}

}  // namespace qwenvl::grammar
