#pragma once
// PolicyClient's convenience arguments (maps, spans) as the plain requests of core/messages.h,
// written once for single calls (PolicyClient) and vectorised ones (VectorStep).
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/messages.h"
#include "policy_client/policy_client.h"

namespace tandem::client::requests {

// `masks`: action masks of some of the agents (keyed like `obs`); one for an agent that is
// not in `obs` throws std::invalid_argument.
inline std::vector<core::AgentObs> agents_of(const AgentObs& obs, const AgentObs& masks = {}) {
  std::vector<core::AgentObs> out;
  out.reserve(obs.size());
  for (const auto& [id, m] : masks)
    if (!obs.count(id)) throw std::invalid_argument("an action mask for agent '" + id.substr(0, 40) + "', which has no observation");
  for (const auto& [id, o] : obs) {
    auto it = masks.find(id);
    out.push_back({id, o, it == masks.end() ? std::vector<float>{} : it->second});
  }
  return out;
}

inline core::GetAction get_action(const std::string& episode_id, std::span<const float> obs,
                                  std::span<const float> action_mask) {
  return {episode_id,
          {{core::kDefaultAgentId, {obs.begin(), obs.end()}, {action_mask.begin(), action_mask.end()}}}};
}

inline core::LogAction log_action(const std::string& episode_id, std::span<const float> obs, const Action& action) {
  return {episode_id,
          {{core::kDefaultAgentId, {obs.begin(), obs.end()}, {}}},
          {{core::kDefaultAgentId, action.discrete, action.continuous}}};
}

inline core::LogReturns log_returns(const std::string& episode_id, float reward) {
  return {episode_id, {{core::kDefaultAgentId, reward, false}}};
}

// Every agent with a reward, and every agent only marked done (reward 0).
inline core::LogReturns log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                                    const std::map<std::string, bool>& dones) {
  core::LogReturns r{episode_id, {}};
  for (const auto& [id, v] : rewards) {
    auto it = dones.find(id);
    r.rewards.push_back({id, v, it != dones.end() && it->second});
  }
  for (const auto& [id, d] : dones)
    if (!rewards.count(id)) r.rewards.push_back({id, 0.f, d});
  return r;
}

inline core::EndEpisode end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                                    const std::map<std::string, double>& custom_metrics) {
  core::EndEpisode r{episode_id, agents_of(obs), truncated, {}};
  for (const auto& [k, v] : custom_metrics) r.custom_metrics.push_back({k, v});
  return r;
}

// "GetAction(ep-1)": how errors name a call.
inline std::string call_name(const char* what, const std::string& episode_id) {
  return std::string(what) + "(" + episode_id + ")";
}
inline std::string call_name(const core::EpisodeRequest& r) {
  static constexpr const char* kNames[] = {"StartEpisode", "GetAction", "LogAction", "LogReturns", "EndEpisode"};
  return call_name(kNames[r.index()], core::episode_of(r));
}

// The actions of a GetAction's reply by agent; ConnectionError when one of its agents has none.
inline std::map<std::string, Action> actions_by_agent(const core::GetAction& request, core::Actions reply,
                                                      const std::string& what) {
  std::map<std::string, Action> out;
  for (auto& a : reply.actions) out[a.agent_id] = Action{std::move(a.discrete), std::move(a.continuous)};
  for (const auto& a : request.agents)
    if (!out.count(a.agent_id))
      throw ConnectionError("server answered " + what + " without an action for agent '" + a.agent_id + "'");
  return out;
}

inline AgentObs single_agent(std::span<const float> obs) {
  return AgentObs{{core::kDefaultAgentId, std::vector<float>(obs.begin(), obs.end())}};
}

}  // namespace tandem::client::requests
