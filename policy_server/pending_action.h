#pragma once
// A GetAction (or LogAction) in flight: its agents may map to several policies, so it
// completes when the last policy's batcher has filled its slot.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "algorithms/policy.h"
#include "policy_server/episode.h"
#include "policy_server/reply_sink.h"

namespace tandem::server {

struct PendingAction {
  uint64_t request_id = 0;
  std::shared_ptr<ReplySink> sink;
  std::shared_ptr<Episode> episode;
  std::vector<std::string> agent_ids;
  std::vector<int> policies;
  std::vector<std::vector<float>> obs;     // preprocessed, one per agent
  std::vector<std::vector<float>> masks;   // empty when the agent sent none
  std::vector<std::optional<algo::ActionResult>> logged;  // LogAction: the action the client took
  std::vector<algo::ActionResult> results;
  std::atomic<int> remaining{0};
  int64_t version = 0;
  bool is_log_action = false;
};

}  // namespace tandem::server
