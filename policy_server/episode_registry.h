#pragma once
// Open episodes, keyed by episode id (not by connection: a client that reconnects carries
// on with the same episode). Bounded in number; idle episodes are swept out by a timer.
// Thread-safe: the map is guarded by mu_; each Episode has its own mutex.
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy_server/episode.h"

namespace tandem::server {

class EpisodeRegistry {
 public:
  EpisodeRegistry(const std::vector<algo::PolicySpec>& policies, SampleQueue& queue,
                  RunStats& stats, int64_t max_open, uint64_t seed);

  struct Started {
    std::shared_ptr<Episode> episode;      // null on error
    wire::fb::ErrorCode error = wire::fb::ErrorCode::None;
    std::string message;
  };
  // Opens an episode; an empty id gets a generated one.
  Started start(std::string_view id, bool training_enabled, bool explore);
  std::shared_ptr<Episode> find(std::string_view id);
  std::shared_ptr<Episode> remove(std::string_view id);
  // Removes and returns the episodes idle for longer than `idle`.
  std::vector<std::shared_ptr<Episode>> take_idle(std::chrono::steady_clock::duration idle);
  size_t size() const;

 private:
  const std::vector<algo::PolicySpec>& policies_;
  SampleQueue& queue_;
  RunStats& stats_;
  const int64_t max_open_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Episode>> open_;
  std::mt19937_64 rng_;
  uint64_t next_ = 1;
};

}  // namespace tandem::server
