// A least-recently-used cache bounded by a total cost (bytes, or 1 per entry). Small: lookups walk
// the list, which holds tens of entries. Not thread-safe: the owner locks.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <utility>

namespace qwenvl {

template <class Key, class Value>
class LruCache {
 public:
  using CostFn = std::function<size_t(const Value&)>;

  // max_cost: the most the entries may cost together; cost: an entry's cost (default 1 each, so
  // max_cost counts entries).
  explicit LruCache(
      size_t max_cost, CostFn cost = [](const Value&) { return size_t{1}; })
      : max_cost_(max_cost), cost_(std::move(cost)) {}

  // The value for key, made the most recent; null when absent.
  const Value* Find(const Key& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->key == key) {
        entries_.splice(entries_.begin(), entries_, it);
        return &entries_.front().value;
      }
    }
    return nullptr;
  }

  // Stores value as the most recent entry for key (replacing one there was), then drops the least
  // recent entries until the total cost fits. A value costing more than max_cost is not kept.
  void Put(const Key& key, Value value) {
    Erase(key);
    const size_t c = cost_(value);
    if (c > max_cost_) return;
    entries_.push_front({key, std::move(value), c});
    total_ += c;
    while (total_ > max_cost_) {
      total_ -= entries_.back().cost;
      entries_.pop_back();
    }
  }

  void Erase(const Key& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->key == key) {
        total_ -= it->cost;
        entries_.erase(it);
        return;
      }
    }
  }

  void Clear() {
    entries_.clear();
    total_ = 0;
  }
  size_t size() const { return entries_.size(); }
  size_t cost() const { return total_; }
  size_t max_cost() const { return max_cost_; }

 private:
  struct Entry {
    Key key;
    Value value;
    size_t cost;
  };
  size_t max_cost_;
  CostFn cost_;
  std::list<Entry> entries_;  // most recent first
  size_t total_ = 0;
};

}  // namespace qwenvl
