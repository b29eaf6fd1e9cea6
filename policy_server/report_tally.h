#pragma once
// What the server has been told of each local-inference episode: its ReportSamples so far.
// A report's episode totals are checked against this, so a client cannot claim more than
// it sent: at the end (episode_done) episode_length must equal the env steps reported for
// the episode, and |episode_reward| (and each agent's return) cannot exceed what its
// reported step rewards allow (sum of |reward| over its steps, plus max_abs_reward for the
// rewards that reach no step: EpisodeCore's bound). When the server has not seen the
// episode's earlier parts (they went to a server that restarted since, or the tally timed
// out), the report is accepted and the totals are clamped to what can be verified: the
// samples of an honest client are never refused over a statistic.
//
// Bounded like open episodes: at most max_open tallies in all and max_per_client per
// client (TooManyEpisodes beyond); a tally idle for longer than the episode timeout is
// dropped (sweep). Thread-safe (one mutex).
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/messages.h"
#include "core/owner_counts.h"
#include "core/status.h"
#include "core/trajectory.h"

namespace tandem::server {

class ReportTally {
 public:
  ReportTally(int64_t max_open, int64_t max_per_client) : max_open_(max_open), per_client_(max_per_client) {}

  // Checks `r` (already past core::check_report) against the episode's tally and, when it
  // passes, adds it (and forgets the episode when r.episode_done). `max_abs_reward`: the
  // largest of the policies' bounds. Changes nothing on error.
  struct Verified {
    int64_t episode_length = 0;  // episode_done: the totals to record
    double episode_reward = 0;
    double clamp = 0;            // agent returns are clamped to +-this
    // Per fragment of the report: its origin for experience output (episode and agent id,
    // the agent's order of appearance and step index in the reports seen here, whether the
    // agent's episode ends with it; no next observation: uploads carry none).
    std::vector<core::FragmentOrigin> origins;
  };
  core::Status admit(const std::string& client, const core::ReportSamples& r, double max_abs_reward,
                     Verified& verified);
  // Drops tallies idle for longer than `idle`; returns how many.
  size_t sweep(std::chrono::steady_clock::duration idle);
  size_t size() const;

 private:
  struct Tally {
    std::string client;
    int64_t env_steps = 0;
    double abs_reward = 0;  // sum of |step reward| over the reported steps
    std::chrono::steady_clock::time_point last;
    bool whole = true;      // every report of the episode from its first on was seen here
    struct Place {
      int index = 0;        // order of appearance
      int64_t steps = 0;    // steps reported so far
    };
    std::map<std::string, Place, std::less<>> agents;  // at most core::kMaxAgentsPerEpisode
  };
  const int64_t max_open_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Tally> open_;         // episode id -> tally
  core::OwnerCounts per_client_;                         // tallies per client
  void erase(std::unordered_map<std::string, Tally>::iterator it);
};

}  // namespace tandem::server
