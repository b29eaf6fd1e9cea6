#pragma once
// Which episode ids are open and which have ended: the rules of StartEpisode and of a request
// for an id that is not open, for the server's registry and the local client alike.
//
//   open(id, owner) bounds on open episodes (in all, and per owner: the client that opened
//               it), id length and UTF-8, duplicates; an empty id gets a fresh one
//   end(id)     no longer open; leaves a tombstone (the last kTombstones ended ids), so a
//               resent EndEpisode is acknowledged and a late request is told it has ended
//   not_open(id) the Status for a request about an id that is not open
// An ended id may be opened again (the new episode replaces the tombstone).
// Not thread-safe: the owner serialises calls.
#include <cstdint>
#include <climits>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/owner_counts.h"
#include "core/status.h"

namespace tandem::core {

class EpisodeBook {
 public:
  static constexpr size_t kTombstones = 1u << 16;
  // max_per_owner: open episodes one owner may hold (the global max_open stays).
  EpisodeBook(int64_t max_open, uint64_t seed, int64_t max_per_owner = INT64_MAX)
      : max_open_(max_open), per_owner_(max_per_owner), rng_(seed ^ 0x7a6dull) {}

  Status open(std::string& id, const std::string& owner = "");
  void end(const std::string& id);
  Status not_open(std::string_view id) const;
  bool has_ended(std::string_view id) const { return ended_.count(std::string(id)) > 0; }
  bool is_open(std::string_view id) const { return open_.count(std::string(id)) > 0; }
  size_t open_count() const { return open_.size(); }

 private:
  const int64_t max_open_;
  OwnerCounts per_owner_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, std::string> open_;     // id -> owner
  std::unordered_map<std::string, uint64_t> ended_;       // id -> generation of its tombstone
  std::deque<std::pair<std::string, uint64_t>> order_;     // oldest tombstone first
  uint64_t generation_ = 0;
};

}  // namespace tandem::core
