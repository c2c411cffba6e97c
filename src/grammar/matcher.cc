#include "grammar/matcher.h"

#include <algorithm>

#include "qwenvl/error.h"

namespace qwenvl::grammar {

namespace {
uint64_t Key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

CompiledGrammar::CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocabulary> vocabulary)
    : grammar_(std::move(grammar)), vocabulary_(std::move(vocabulary)) {
  std::lock_guard lock(mu_);
  states_.emplace_back();  // kDead
  state_ids_.emplace(std::string(1, '\0'), kDead);
  std::vector<std::pair<int32_t, int32_t>> work;
  for (int32_t alt : grammar_.rules[grammar_.root].alternatives) work.push_back({alt, -1});
  initial_ = Close(work);
}

int32_t CompiledGrammar::InternNode(int32_t pos, int32_t parent) {
  const auto [it, inserted] =
      node_ids_.emplace(Key(pos, parent), static_cast<int32_t>(nodes_.size()));
  if (inserted) {
    if (nodes_.size() >= kMaxNodes)
      throw Error(ErrorCode::kOutOfRange,
                  "grammar: the answer nests deeper than the parser allows");
    nodes_.push_back({pos, parent});
  }
  return it->second;
}

int32_t CompiledGrammar::Close(std::vector<std::pair<int32_t, int32_t>>& work) {
  std::vector<int32_t> terminals;
  bool accept = false;
  visited_.clear();
  while (!work.empty()) {
    const auto [pos, parent] = work.back();
    work.pop_back();
    if (!visited_.emplace(Key(pos, parent), true).second) continue;
    const Element& e = grammar_.elements[pos];
    switch (e.kind) {
      case Element::Kind::kEnd:
        if (parent < 0) {
          accept = true;
        } else {
          work.push_back({nodes_[parent].pos, nodes_[parent].parent});
        }
        break;
      case Element::Kind::kBytes:
        terminals.push_back(InternNode(pos, parent));
        break;
      case Element::Kind::kRule: {
        // Returning to the end of an alternative only pops again: skip that frame, so right
        // recursion (repetitions) keeps the stack flat.
        const int32_t ret = grammar_.elements[pos + 1].kind == Element::Kind::kEnd
                                ? parent
                                : InternNode(pos + 1, parent);
        for (int32_t alt : grammar_.rules[e.value].alternatives) work.push_back({alt, ret});
        break;
      }
    }
  }
  std::sort(terminals.begin(), terminals.end());
  terminals.erase(std::unique(terminals.begin(), terminals.end()), terminals.end());
  return InternState(std::move(terminals), accept);
}

int32_t CompiledGrammar::InternState(std::vector<int32_t> terminals, bool accept) {
  std::string key(reinterpret_cast<const char*>(terminals.data()),
                  terminals.size() * sizeof(int32_t));
  key.push_back(accept ? '\1' : '\0');
  const auto it = state_ids_.find(key);
  if (it != state_ids_.end()) return it->second;
  if (states_.size() >= kMaxStates)
    throw Error(ErrorCode::kOutOfRange, "grammar: the constraint needs more than " +
                                            std::to_string(kMaxStates) +
                                            " parser states (simplify the schema or grammar)");
  const int32_t id = static_cast<int32_t>(states_.size());
  State s;
  s.terminals = std::move(terminals);
  s.accept = accept;
  states_.push_back(std::move(s));
  state_ids_.emplace(std::move(key), id);
  return id;
}

int32_t CompiledGrammar::Next(int32_t state, uint8_t byte) {
  if (state == kDead) return kDead;
  if (!states_[state].next) {
    states_[state].next = std::make_unique<std::array<int32_t, 256>>();
    states_[state].next->fill(-1);
  }
  int32_t& cached = (*states_[state].next)[byte];
  if (cached >= 0) return cached;
  std::vector<std::pair<int32_t, int32_t>> work;
  for (int32_t t : states_[state].terminals) {
    const Node& n = nodes_[t];
    if (grammar_.byte_sets[grammar_.elements[n.pos].value].Has(byte))
      work.push_back({n.pos + 1, n.parent});
  }
  // Close may grow states_: index again rather than keep the reference.
  const int32_t next = work.empty() ? kDead : Close(work);
  (*states_[state].next)[byte] = next;
  return next;
}

int32_t CompiledGrammar::Advance(int32_t state, std::string_view bytes) {
  std::lock_guard lock(mu_);
  for (unsigned char b : bytes) {
    state = Next(state, b);
    if (state == kDead) break;
  }
  return state;
}

bool CompiledGrammar::CanEnd(int32_t state) {
  std::lock_guard lock(mu_);
  return states_[state].accept;
}

bool CompiledGrammar::CanContinue(int32_t state) {
  std::lock_guard lock(mu_);
  return !states_[state].terminals.empty();
}

size_t CompiledGrammar::state_count() {
  std::lock_guard lock(mu_);
  return states_.size();
}

size_t CompiledGrammar::masks_computed() {
  std::lock_guard lock(mu_);
  return masks_computed_;
}

std::shared_ptr<const TokenMask> CompiledGrammar::Mask(int32_t state) {
  std::lock_guard lock(mu_);
  if (!states_[state].mask) {
    if (masks_cached_ >= kMaxMasks) {  // bound the memory: forget them all, recompute on demand
      for (State& s : states_) s.mask.reset();
      masks_cached_ = 0;
    }
    states_[state].mask = ComputeMask(state);
    ++masks_cached_;
    ++masks_computed_;
  }
  return states_[state].mask;
}

std::shared_ptr<const TokenMask> CompiledGrammar::ComputeMask(int32_t state) {
  const TokenVocabulary& v = *vocabulary_;
  auto mask = std::make_shared<TokenMask>(v.size());
  if (states_[state].accept)
    for (TokenId id : v.end_tokens()) mask->Set(id);
  if (states_[state].terminals.empty()) return mask;
  // Walk the tokens in byte order: path[d] is the state after the first d bytes of the current
  // token, valid up to `known`; a prefix that dies kills every token under it.
  const std::vector<TokenId>& order = v.order();
  const std::vector<uint16_t>& lcp = v.lcp();
  std::vector<int32_t> path(1, state);
  size_t known = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string& b = v.bytes(order[i]);
    known = std::min<size_t>(known, lcp[i]);
    if (path.size() < b.size() + 1) path.resize(b.size() + 1);
    size_t d = known;
    while (d < b.size()) {
      const int32_t next = Next(path[d], static_cast<uint8_t>(b[d]));
      if (next == kDead) break;
      path[++d] = next;
    }
    known = d;
    if (d < b.size()) {
      // Bytes [0, d] leave the language: so does every following token that starts with them.
      while (i + 1 < order.size() && lcp[i + 1] > d) ++i;
      continue;
    }
    mask->Set(order[i]);
  }
  return mask;
}

bool GrammarMatcher::Accept(TokenId token) {
  const TokenVocabulary& v = grammar_->vocabulary();
  if (token < 0 || static_cast<size_t>(token) >= v.size()) return false;
  if (v.IsEnd(token)) {
    if (!grammar_->CanEnd(state_)) return false;
    ended_ = true;
    return true;
  }
  return AcceptBytes(v.bytes(token)) && !v.bytes(token).empty();
}

bool GrammarMatcher::AcceptBytes(std::string_view bytes) {
  const int32_t next = grammar_->Advance(state_, bytes);
  if (next == CompiledGrammar::kDead) return false;
  state_ = next;
  return true;
}

}  // namespace qwenvl::grammar
