// A context-free grammar over bytes, the form every constraint is compiled to (GBNF text, JSON
// Schema, the grounding format). Rules are lists of alternatives; an alternative is a run of
// elements in `elements` ending with kEnd. Terminals are byte sets: a character class over code
// points is lowered to its UTF-8 byte sequences when the grammar is built (utf8_ranges.h), so the
// matcher never holds half a character.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qwenvl::grammar {

// 256 bits: which bytes a terminal accepts.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool Has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void Add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void AddRange(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) Add(static_cast<uint8_t>(b));
  }
  bool operator==(const ByteSet&) const = default;
};

struct Element {
  enum class Kind : uint8_t { kBytes, kRule, kEnd };
  Kind kind = Kind::kEnd;
  int32_t value = 0;  // kBytes: index in byte_sets; kRule: rule id
};

struct Rule {
  std::string name;
  std::vector<int32_t> alternatives;  // positions in Grammar::elements
};

struct Grammar {
  std::vector<Element> elements;
  std::vector<ByteSet> byte_sets;
  std::vector<Rule> rules;
  int32_t root = -1;
};

// A code point range, both ends included.
using CodeRange = std::pair<uint32_t, uint32_t>;

// Builds a Grammar piece by piece; the parsers (GBNF, JSON Schema) drive it. Sequences are vectors
// of elements; an element of a sequence is a terminal or a reference to a rule.
class GrammarBuilder {
 public:
  using Sequence = std::vector<Element>;

  // The id of the rule named `name`, created (without alternatives) on first use.
  int32_t RuleId(const std::string& name);
  // A fresh rule for a group or a repetition, named after `base`.
  int32_t NewHelperRule(const std::string& base);
  void AddAlternative(int32_t rule, const Sequence& sequence);

  // Appends the bytes of `text` to `out`, one terminal per byte.
  void AppendLiteral(std::string_view text, Sequence* out);
  // Appends one character of a class: a byte set for an ASCII-only class, else a reference to a
  // rule of its UTF-8 byte sequences (shared between equal classes). Surrogates never match.
  void AppendClass(std::vector<CodeRange> ranges, bool negated, Sequence* out);
  void AppendRule(int32_t rule, Sequence* out) { out->push_back({Element::Kind::kRule, rule}); }

  // Repetitions of `item` (one element: wrap a longer sequence in a helper rule first) between
  // min and max times (max < 0: unbounded), appended to `out` as rules.
  void AppendRepeat(const Element& item, int64_t min, int64_t max, Sequence* out);

  size_t element_count() const { return grammar_.elements.size(); }
  // Throws Error(kInvalidArgument) for a referenced rule with no definition, an unknown root,
  // left recursion, or a grammar past the size bounds.
  Grammar Finish(const std::string& root_name);

 private:
  int32_t ByteSetIndex(const ByteSet& set);
  Grammar grammar_;
  std::unordered_map<std::string, int32_t> rule_ids_;
  std::vector<std::pair<std::vector<CodeRange>, int32_t>> class_rules_;
};

// Bounds a grammar may not exceed (compiled from untrusted text).
inline constexpr size_t kMaxGrammarElements = 1 << 20;
inline constexpr int64_t kMaxRepeat = 10000;

}  // namespace qwenvl::grammar
