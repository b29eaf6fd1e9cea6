#pragma once
// Which replica of a group serves an episode (PolicyClient with several addresses).
//
// Placement: an episode's home is fnv1a64(episode id) % replicas (the same number in every
// client given the same address list, in C++ and Python), so one id lands on one replica
// while it is up. A home that is down gives the next live replica after it (home+1, ...).
// Once placed, an episode stays on its replica: when that replica is declared gone, every
// episode on it moves to the next live replica after it (needs_start: the group re-creates
// it there before its next request), and stays there when the old one comes back.
//
// Pure bookkeeping: no network. Not thread-safe: the group serialises every call.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tandem::client {

// FNV-1a, 64 bits, over the id's bytes.
uint64_t episode_hash(std::string_view episode_id);
// The replica an episode id is placed on while every replica is up.
size_t home_replica(std::string_view episode_id, size_t replicas);

// "ws://a:1,ws://b:2" -> {"ws://a:1", "ws://b:2"} (spaces around entries dropped, empty
// entries refused with std::invalid_argument). One address gives a list of one.
std::vector<std::string> split_addresses(const std::string& addresses);

class ReplicaRouter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Episode {
    size_t replica = 0;
    bool training_enabled = true, explore = true;  // its StartEpisode's flags (defaults if unseen)
    bool needs_start = false;  // moved: StartEpisode goes to the new replica before the next request
    bool ended = false;        // EndEpisode given: forgotten once its replica answered everything
  };

  explicit ReplicaRouter(size_t replicas);

  size_t size() const { return live_.size(); }
  bool live(size_t r) const { return live_[r]; }
  void set_live(size_t r, bool up);
  Clock::time_point down_since(size_t r) const { return down_since_[r]; }
  // The first live replica at r, r+1, ... (wrapping); nullopt when none is.
  std::optional<size_t> live_from(size_t r) const;
  // The first live replica after r (r+1, ..., never r itself).
  std::optional<size_t> live_after(size_t r) const;

  Episode* find(const std::string& id);
  // Records an episode on replica r (a new id, or one whose record was forgotten).
  Episode& add(const std::string& id, size_t r);
  // Every episode on `from` moves to `to` and needs a StartEpisode there. Returns how many.
  size_t move_all(size_t from, size_t to);
  void note_ended(const std::string& id);
  // Forgets the ended episodes of replica r (call when r answered everything given).
  void forget_ended(size_t r);
  size_t episodes() const { return episodes_.size(); }

 private:
  std::vector<bool> live_;
  std::vector<Clock::time_point> down_since_;
  std::unordered_map<std::string, Episode> episodes_;
  std::vector<std::vector<std::string>> ended_;  // per replica: ended episodes not forgotten yet
};

}  // namespace tandem::client
