#pragma once
// A GetAction (or LogAction) in flight: its agents may map to several policies, so it
// completes when the last policy's batcher has filled its slot.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/policy_spec.h"
#include "policy_server/episode_registry.h"
#include "policy_server/reply_sink.h"

namespace tandem::server {

struct PendingAction {
  Caller caller;
  std::shared_ptr<Episode> episode;
  bool explore = true;
  bool is_log_action = false;
  std::vector<std::string> agent_ids;
  std::vector<int> policies;
  std::vector<std::vector<float>> obs;     // preprocessed, one per agent
  std::vector<std::vector<float>> masks;   // empty when the agent sent none
  std::vector<std::optional<core::AgentAction>> logged;  // LogAction: the action the client took
  std::vector<core::ActionResult> results;
  std::atomic<int> remaining{0};
  int64_t version = 0;
};

}  // namespace tandem::server
