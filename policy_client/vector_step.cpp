#include "policy_client/vector_step.h"

#include "core/overload.h"
#include "policy_client/connection.h"
#include "policy_client/request_builders.h"

namespace tandem::client {

namespace {
using core::kDefaultAgentId;

}  // namespace

VectorStep::VectorStep() : rng_(std::random_device{}()) {}

std::string VectorStep::start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) {
  std::string id = episode_id ? std::move(*episode_id) : new_episode_id(rng_);
  request_.entries.emplace_back(core::StartEpisode{id, training_enabled, explore});
  return id;
}

size_t VectorStep::get_action(const std::string& episode_id, std::span<const float> obs,
                              std::span<const float> action_mask) {
  request_.entries.emplace_back(requests::get_action(episode_id, obs, action_mask));
  return num_get_actions_++;
}

size_t VectorStep::get_action(const std::string& episode_id, const AgentObs& obs, const AgentObs& action_masks) {
  request_.entries.emplace_back(core::GetAction{episode_id, requests::agents_of(obs, action_masks)});
  return num_get_actions_++;
}

void VectorStep::log_action(const std::string& episode_id, std::span<const float> obs, const Action& action) {
  request_.entries.emplace_back(requests::log_action(episode_id, obs, action));
}

void VectorStep::log_returns(const std::string& episode_id, float reward) {
  request_.entries.emplace_back(requests::log_returns(episode_id, reward));
}

void VectorStep::log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                             const std::map<std::string, bool>& dones) {
  request_.entries.emplace_back(requests::log_returns(episode_id, rewards, dones));
}

void VectorStep::end_episode(const std::string& episode_id, std::span<const float> obs, bool truncated,
                             const std::map<std::string, double>& custom_metrics) {
  end_episode(episode_id, requests::single_agent(obs), truncated, custom_metrics);
}

void VectorStep::end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                             const std::map<std::string, double>& custom_metrics) {
  request_.entries.emplace_back(requests::end_episode(episode_id, obs, truncated, custom_metrics));
}

void VectorStep::clear() {
  request_.entries.clear();
  num_get_actions_ = 0;
}

const Action& StepReply::action(size_t k) const { return actions.at(k).at(kDefaultAgentId); }

StepReply to_step_reply(const core::VectorRequest& request, core::VectorReply reply) {
  if (reply.replies.size() != request.entries.size())
    throw ConnectionError("server answered a VectorRequest of " + std::to_string(request.entries.size()) +
                          " entries with " + std::to_string(reply.replies.size()) + " replies");
  StepReply out;
  const core::Error* first = nullptr;
  size_t first_index = 0, failed = 0;
  for (size_t i = 0; i < reply.replies.size(); ++i) {
    const auto& e = request.entries[i];
    auto& r = reply.replies[i];
    if (const auto* err = std::get_if<core::Error>(&r)) {
      if (!failed++) {
        first = err;
        first_index = i;
      }
      if (std::holds_alternative<core::GetAction>(e)) out.actions.emplace_back();
      continue;
    }
    if (const auto* g = std::get_if<core::GetAction>(&e)) {
      auto* a = std::get_if<core::Actions>(&r);
      if (!a) throw ConnectionError("server answered " + requests::call_name(e) + " in a VectorRequest without actions");
      out.actions.push_back(requests::actions_by_agent(*g, std::move(*a), requests::call_name(e)));
    }
  }
  if (first) {
    std::string message = first->message;
    if (failed > 1) message += " (and " + std::to_string(failed - 1) + " more calls of the step failed)";
    throw StepError(RequestError(core::error_code_name(first->code),
                                 "entry " + std::to_string(first_index) + " " +
                                     requests::call_name(request.entries[first_index]),
                                 message),
                    std::move(out), failed);
  }
  return out;
}

}  // namespace tandem::client
