// Constrained decoding: which tokens keep an answer inside a grammar's language.
//
// A parse position is a stack of grammar positions (a pushdown automaton): the top is a terminal
// (a byte set) waiting for its byte, each entry below it where to go on when the rule above ends.
// Stacks are interned as (position, parent) nodes, so equal stacks are one id and shared tails
// cost nothing. A parser state is the set of stacks alive after the answer so far, also interned:
// the answer inside a JSON string, after any number of ordinary characters, is the same state.
//
// Everything per state is computed once and kept: its transition on each byte, and its token mask
// (the tokens whose bytes all pass), found by walking the vocabulary as a prefix tree from the
// state. Most steps of an answer revisit a state, so most masks are a lookup.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/token_vocabulary.h"

namespace qwenvl::grammar {

// A grammar ready to constrain answers over one vocabulary. Thread-safe: requests share one.
class CompiledGrammar {
 public:
  static constexpr int32_t kDead = 0;  // the state no byte sequence leaves the language from

  CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocabulary> vocabulary);

  int32_t initial_state() const { return initial_; }
  // The state after `bytes`; kDead once they leave the language. Throws Error(kOutOfRange) when
  // the grammar needs more parser states than the bounds below allow.
  int32_t Advance(int32_t state, std::string_view bytes);
  // True when the answer so far is a whole sentence of the language.
  bool CanEnd(int32_t state);
  // True when some byte may follow.
  bool CanContinue(int32_t state);
  // The tokens allowed after `state`: those whose bytes keep it alive, and the end tokens when it
  // can end. Kept per state (up to kMaxMasks of them, then recomputed on demand).
  std::shared_ptr<const TokenMask> Mask(int32_t state);

  const TokenVocabulary& vocabulary() const { return *vocabulary_; }
  size_t state_count();
  size_t masks_computed();

  static constexpr size_t kMaxStates = 1 << 16;
  static constexpr size_t kMaxNodes = 1 << 21;
  static constexpr size_t kMaxMasks = 1024;

 private:
  struct Node {
    int32_t pos;
    int32_t parent;  // node id, -1 at the bottom
  };
  struct State {
    std::vector<int32_t> terminals;  // node ids whose top is a byte set, sorted
    bool accept = false;
    std::unique_ptr<std::array<int32_t, 256>> next;  // -1: not computed yet
    std::shared_ptr<const TokenMask> mask;
  };

  int32_t InternNode(int32_t pos, int32_t parent);
  // The terminals and acceptance reached from the (position, parent) pairs in `work`.
  int32_t Close(std::vector<std::pair<int32_t, int32_t>>& work);
  int32_t InternState(std::vector<int32_t> terminals, bool accept);
  int32_t Next(int32_t state, uint8_t byte);
  std::shared_ptr<const TokenMask> ComputeMask(int32_t state);

  const Grammar grammar_;
  std::shared_ptr<const TokenVocabulary> vocabulary_;
  std::mutex mu_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, int32_t> node_ids_;
  std::vector<State> states_;
  std::unordered_map<std::string, int32_t> state_ids_;
  int32_t initial_ = kDead;
  size_t masks_cached_ = 0;
  size_t masks_computed_ = 0;
  // Scratch of Close, kept to avoid reallocation.
  std::unordered_map<uint64_t, bool> visited_;
};

// One answer's progress through a compiled grammar.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<CompiledGrammar> grammar)
      : grammar_(std::move(grammar)), state_(grammar_->initial_state()) {}

  std::shared_ptr<const TokenMask> Mask() { return grammar_->Mask(state_); }
  // Feeds a chosen token. Returns false (and changes nothing) for a token the mask refuses.
  bool Accept(TokenId token);
  bool CanEnd() { return grammar_->CanEnd(state_); }
  // Feeds raw bytes (a forced prefix); false if they leave the language.
  bool AcceptBytes(std::string_view bytes);
  bool ended() const { return ended_; }

 private:
  std::shared_ptr<CompiledGrammar> grammar_;
  int32_t state_;
  bool ended_ = false;
};

}  // namespace qwenvl::grammar
