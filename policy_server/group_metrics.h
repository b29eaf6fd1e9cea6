#pragma once
// A replica group's result row (docs/ARCHITECTURE.md, "Past one machine"): every rank sends its
// iteration's metrics to rank 0 through the group's store; rank 0 writes one row for the
// group with the counters summed and the episode statistics over every rank's episodes.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy_server/run_stats.h"

namespace tandem::server {

// One rank's part of an iteration.
struct RankIteration {
  IterationMetrics metrics;
  int64_t trained_steps = 0;  // rows it trained on
};

nlohmann::json share_iteration(const RankIteration& it);
// Throws nlohmann::json::exception on a malformed message (a rank of another version).
RankIteration read_iteration(const nlohmann::json& j);
// The group's iteration: counters and trained steps summed; episode rewards and lengths, policy
// rewards, custom and evaluation metrics over every rank's episodes (means weighted by the
// episodes behind them, the min of the mins, the max of the maxes).
RankIteration merge_iterations(const std::vector<RankIteration>& ranks);

}  // namespace tandem::server
