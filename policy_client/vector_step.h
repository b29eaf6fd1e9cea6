#pragma once
// VectorStep: the calls of many episodes gathered into ONE frame and one round trip
// (PolicyClient::step), for a simulator that steps N environments from one thread, as
// EnvPool or a gym VectorEnv do.
//
//   VectorStep s;
//   for (int i = 0; i < n; ++i) {
//     s.log_returns(ep[i], reward[i]);
//     if (done[i]) { s.end_episode(ep[i], obs[i]); ep[i] = s.start_episode(); }
//     s.get_action(ep[i], obs[i]);
//   }
//   auto reply = client.step(s);      // reply.action(k): the k-th get_action's action
//   s.clear();
//
// The server applies the calls one by one, in the order they were added, exactly as the
// same calls made singly on one client would be; the actions of the whole frame share one
// forward pass per policy. A failing call changes nothing and does not stop the others;
// step() then throws StepError (a RequestError for the first failed call, carrying the
// reply with the other calls' actions), after the frame was applied.
// The frame is one request for the exactly-once ledger: after a reconnect it is resent
// whole and applied once. At most 1024 calls (and 8192 agents) per step.
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/messages.h"
#include "policy_client/policy_client.h"

namespace tandem::client {

class VectorStep {
 public:
  VectorStep();

  // Returns the episode's id (a fresh unique one when none is given).
  std::string start_episode(std::optional<std::string> episode_id = std::nullopt,
                            bool training_enabled = true, bool explore = true);
  // Single agent ("agent0"). Returns k: the reply's action(k) answers this call.
  size_t get_action(const std::string& episode_id, std::span<const float> obs,
                    std::span<const float> action_mask = {});
  // Multi-agent: one action per agent in `obs` (the reply's actions[k]), under the
  // `action_masks` given (agent id -> mask).
  size_t get_action(const std::string& episode_id, const AgentObs& obs, const AgentObs& action_masks = {});
  void log_action(const std::string& episode_id, std::span<const float> obs, const Action& action);
  void log_returns(const std::string& episode_id, float reward);
  void log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                   const std::map<std::string, bool>& dones = {});
  void end_episode(const std::string& episode_id, std::span<const float> obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});
  void end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});

  size_t size() const { return request_.entries.size(); }
  size_t num_get_actions() const { return num_get_actions_; }
  bool empty() const { return request_.entries.empty(); }
  // Forgets the calls (keeps the capacity): the step can be filled again.
  void clear();

  const core::VectorRequest& request() const { return request_; }

 private:
  core::VectorRequest request_;
  size_t num_get_actions_ = 0;
  std::mt19937_64 rng_;
};

// What PolicyClient::step returns.
struct StepReply {
  // One per get_action of the step, in order: the action of every agent it named (empty
  // for a get_action that failed).
  std::vector<std::map<std::string, Action>> actions;
  // The single agent's ("agent0") action of the k-th get_action.
  const Action& action(size_t k) const;
};

// step() when some calls failed: the first failure (as RequestError), and the reply of the
// whole step, so the actions of the calls that succeeded (and were recorded) are not lost.
class StepError : public RequestError {
 public:
  StepError(RequestError first, StepReply reply, size_t failed)
      : RequestError(std::move(first)), reply(std::move(reply)), failed(failed) {}
  StepReply reply;
  size_t failed = 0;  // calls of the step that failed
};

// The one check of a VectorReply against its request (remote and local): throws StepError
// (a RequestError for the first failed call, naming it and how many failed, with the
// reply), ConnectionError for a reply that does not match the request.
StepReply to_step_reply(const core::VectorRequest& request, core::VectorReply reply);

}  // namespace tandem::client
