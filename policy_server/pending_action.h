#pragma once
// A GetAction (or LogAction) in flight: its agents may map to several policies, so it
// completes when the last policy's batcher has filled its slot.
#include <atomic>
#include <memory>
#include <mutex>
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
  std::atomic<int64_t> version{0};  // weights that served it (batchers of several policies write it)
  // A batcher whose forward pass failed says why; the request is then answered with an
  // Internal error and nothing is recorded.
  void fail(const std::string& why) {
    std::lock_guard lk(failure_mu);
    if (failure.empty()) failure = why;
  }
  std::mutex failure_mu;
  std::string failure;  // under failure_mu; read by complete() after the last slot
};

}  // namespace tandem::server
