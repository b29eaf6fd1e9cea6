#pragma once
// A replica group's result row (docs/ARCHITECTURE.md, "Past one machine"): every rank sends its
// iteration's part to rank 0 through the group's store; rank 0 writes one row for the group:
// counters summed, episode statistics over the group's own smoothing window (the newest
// metrics_num_episodes_for_smoothing training episodes of all ranks, as one server keeps),
// per-iteration custom and evaluation metrics over every rank's episodes.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy_server/run_stats.h"

namespace tandem::server {

// One rank's part of an iteration.
struct RankIteration {
  IterationMetrics metrics;  // with new_episodes (RunStats::take_iteration)
  int64_t trained_steps = 0;  // rows it trained on
  int64_t bad_batches_skipped = 0, bad_sgd_steps_skipped = 0;  // its guard's counts so far
  std::map<std::string, uint32_t> weights_checksums;  // per trained policy (core::weights_checksum)
};

nlohmann::json share_iteration(const RankIteration& it);
// Throws nlohmann::json::exception on a malformed message (a rank of another version), and
// std::runtime_error for a rank's "failed" message (group_learner.cpp).
RankIteration read_iteration(const nlohmann::json& j);

// Rank 0's view of the group over the iterations. Learner thread only.
class GroupRows {
 public:
  explicit GroupRows(int64_t smoothing_window) : window_(smoothing_window) {}
  // The group's iteration from every rank's part: counters, trained steps and skipped batches
  // summed (skipped SGD steps: rank 0's, a group decision every rank counts); episode reward /
  // length / per-policy means over the group's window (every rank's new episodes added to it,
  // interleaved by their place in the rank's iteration); custom and evaluation metrics of this iteration over every
  // rank's episodes (means weighted by the episodes behind them, min of mins, max of maxes);
  // agents per forward pass weighted by passes.
  RankIteration merge(const std::vector<RankIteration>& ranks);

 private:
  RunStats window_;  // only its episode window is used
};

}  // namespace tandem::server
