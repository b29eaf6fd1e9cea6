#pragma once
// Open episodes, keyed by episode id (not by connection: a client that reconnects, or
// another client taking over, carries on with the same episode). The id rules (bound,
// length, duplicates, tombstones of ended episodes) are core::EpisodeBook's, shared with the
// local client; idle episodes are swept out by a timer.
// Thread-safe: the maps are guarded by mu_; each Episode has its own mutex, held around
// every use of its core.
#include <chrono>
#include <climits>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/episode_book.h"
#include "core/episode_core.h"
#include "core/offline_json.h"
#include "core/league.h"
#include "core/status.h"

namespace tandem::server {

struct Episode {
  Episode(const core::PolicyResolver& policies, std::string id, bool training_enabled, bool explore,
          std::map<std::string, int, std::less<>> seats, std::optional<core::Seating> seating)
      : core(policies, std::move(id), training_enabled, explore, std::move(seats)), seating(std::move(seating)) {}
  std::mutex mutex;
  core::EpisodeCore core;  // guarded by mutex
  const std::optional<core::Seating> seating;  // who plays which seat, when the league drew it
  std::chrono::steady_clock::time_point last_active = std::chrono::steady_clock::now();  // guarded by mutex
  std::map<int, core::OfflineBatch> output_rows;  // "episodes" output, per policy; guarded by mutex
  void touch() { last_active = std::chrono::steady_clock::now(); }
};

class EpisodeRegistry {
 public:
  // `league` (may be null): seats every episode it opens (core::League::seat).
  EpisodeRegistry(const core::PolicyResolver& policies, int64_t max_open, uint64_t seed,
                  int64_t max_per_client = INT64_MAX, core::League* league = nullptr);

  struct Started {
    std::shared_ptr<Episode> episode;  // null on error
    core::Status status;
  };
  // Opens an episode for `client` (counted against its max_per_client until it ends, whoever
  // ends it); an empty id gets a generated one. With a league, the league seats it once it is
  // open (a refused start draws nothing).
  Started start(std::string_view id, bool training_enabled, bool explore, const std::string& client = "");
  // The open episode, or null; `status` then says whether it is unknown or has ended.
  std::shared_ptr<Episode> find(std::string_view id, core::Status* status = nullptr);
  // Removes an open episode and leaves its tombstone.
  std::shared_ptr<Episode> end(std::string_view id);
  bool has_ended(std::string_view id) const;
  // Removes and returns the episodes idle for longer than `idle` (tombstoned too).
  std::vector<std::shared_ptr<Episode>> take_idle(std::chrono::steady_clock::duration idle);
  size_t size() const;

 private:
  const core::PolicyResolver& policies_;
  core::League* const league_;
  mutable std::mutex mu_;
  core::EpisodeBook book_;                                          // under mu_
  std::unordered_map<std::string, std::shared_ptr<Episode>> open_;  // under mu_
};

}  // namespace tandem::server
