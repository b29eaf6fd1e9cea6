#pragma once
// How many open things (episodes, report tallies) each owner (a client key) holds, against a
// cap per owner. Used by EpisodeBook (remote episodes) and the server's ReportTally (local
// ones). Not thread-safe: the owner serialises calls.
#include <cstdint>
#include <string>
#include <unordered_map>

namespace tandem::core {

class OwnerCounts {
 public:
  explicit OwnerCounts(int64_t max_per_owner) : max_(max_per_owner) {}
  int64_t max() const { return max_; }
  bool full(const std::string& owner) const {
    auto it = counts_.find(owner);
    return it != counts_.end() && it->second >= max_;
  }
  void add(const std::string& owner) { ++counts_[owner]; }
  void remove(const std::string& owner) {
    if (auto it = counts_.find(owner); it != counts_.end() && --it->second <= 0) counts_.erase(it);
  }

 private:
  const int64_t max_;
  std::unordered_map<std::string, int64_t> counts_;  // owners with none are erased
};

}  // namespace tandem::core
