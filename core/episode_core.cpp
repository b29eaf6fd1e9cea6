#include "core/episode_core.h"

#include <functional>

#include <algorithm>
#include <cmath>

#include "core/request_checks.h"
#include "core/text.h"

namespace tandem::core {

EpisodeCore::EpisodeCore(const PolicyResolver& policies, std::string id, bool training_enabled,
                         bool explore, std::map<std::string, int, std::less<>> seats)
    : policies_(policies, std::move(seats)), id_(std::move(id)), training_enabled_(training_enabled), explore_(explore) {}

ActionResult EpisodeCore::scripted_act(const std::string& agent_id, int policy,
                                       std::span<const float> raw_obs, std::span<const float> mask,
                                       uint64_t seed) {
  const PolicySpec& spec = policies_.spec(policy);
  auto [it, inserted] = script_memory_.try_emplace(agent_id);
  if (inserted) {
    std::seed_seq seq{static_cast<uint64_t>(seed), static_cast<uint64_t>(std::hash<std::string>{}(id_)),
                      static_cast<uint64_t>(std::hash<std::string>{}(agent_id))};
    it->second.rng.seed(seq);
  }
  const ScriptedPolicy script(*spec.script, spec.observation_space, spec.action_space);
  return scripted_action(script, raw_obs, mask, spec.action_space.n, it->second);
}

EpisodeCore::Agent& EpisodeCore::agent(const std::string& agent_id, int policy) {
  auto [it, inserted] = agents_.try_emplace(agent_id);
  if (inserted) {
    it->second.policy = policy;
    it->second.index = static_cast<int>(agents_.size()) - 1;
  }
  return it->second;
}

bool EpisodeCore::agent_done(const std::string& agent_id) const {
  auto it = agents_.find(agent_id);
  return it != agents_.end() && it->second.done;
}

int64_t EpisodeCore::agent_steps(const std::string& agent_id) const {
  auto it = agents_.find(agent_id);
  return it == agents_.end() ? 0 : it->second.steps;
}

Status EpisodeCore::check_act(const std::vector<AgentObs>& agents,
                              const std::vector<AgentAction>* actions,
                              std::vector<int>& policy_of_agent) const {
  if (auto s = check_agents(policies_, id_, agents, /*allow_empty=*/false, policy_of_agent); !s.ok())
    return s;
  if (actions && actions->size() != agents.size())
    return Status::error(ErrorCode::BadRequest, "LogAction needs one action per observation (" +
                                                    std::to_string(agents.size()) + " observations, " +
                                                    std::to_string(actions->size()) + " actions)");
  size_t new_agents = 0;
  for (const auto& a : agents) new_agents += agents_.count(a.agent_id) == 0;
  if (agents_.size() + new_agents > kMaxAgentsPerEpisode)
    return Status::error(ErrorCode::BadRequest, "an episode has at most " + std::to_string(kMaxAgentsPerEpisode) +
                                                    " agents");
  for (size_t i = 0; i < agents.size(); ++i) {
    const auto& a = agents[i];
    if (agent_done(a.agent_id))
      return Status::error(ErrorCode::UnknownAgent,
                           "agent " + quote(a.agent_id) + " is already done in episode " + quote(id_));
    const auto& spec = policies_.spec(policy_of_agent[i]);
    if (auto s = check_observation(spec, a.agent_id, a.obs, a.action_mask); !s.ok()) return s;
    if (actions) {
      const auto& act = (*actions)[i];
      if (!act.agent_id.empty() && act.agent_id != a.agent_id)
        return Status::error(ErrorCode::BadRequest, "LogAction: action " + std::to_string(i) +
                                                        " is for agent " + quote(act.agent_id) +
                                                        ", its observation for " + quote(a.agent_id));
      if (auto s = check_action(spec, a.agent_id, act.discrete, act.continuous, a.action_mask); !s.ok()) return s;
    }
  }
  return {};
}

void EpisodeCore::close(const std::string& agent_id, Agent& a, bool terminated, float bootstrap, bool agent_done,
                        std::span<const float> next_obs) {
  if (a.fragment.size() == 0) return;
  a.fragment.terminated = terminated;
  a.fragment.bootstrap_value = terminated ? 0.f : bootstrap;
  const int64_t obs_dim = a.fragment.obs_dim;
  const int64_t first_step = a.steps - a.fragment.size();
  closed_.push_back({agent_id, a.policy, std::move(a.fragment), a.index, first_step, agent_done,
                     std::vector<float>(next_obs.begin(), next_obs.end())});
  a.fragment = Trajectory{};
  a.fragment.obs_dim = obs_dim;
}

void EpisodeCore::record_step(const std::string& agent_id, int policy,
                              std::span<const float> obs_row, const ActionResult& r) {
  auto& a = agent(agent_id, policy);
  if (a.fragment.size() >= policies_.spec(a.policy).config.rollout_fragment_length)
    close(agent_id, a, /*terminated=*/false, r.vf_pred, /*agent_done=*/false, obs_row);
  auto& t = a.fragment;
  t.obs_dim = static_cast<int64_t>(obs_row.size());
  t.obs.insert(t.obs.end(), obs_row.begin(), obs_row.end());
  t.actions.insert(t.actions.end(), r.discrete.begin(), r.discrete.end());
  t.actions_cont.insert(t.actions_cont.end(), r.continuous.begin(), r.continuous.end());
  t.action_logp.push_back(r.logp);
  t.vf_preds.push_back(r.vf_pred);
  t.dist_inputs.insert(t.dist_inputs.end(), r.dist_inputs.begin(), r.dist_inputs.end());
  t.rewards.push_back(0.f);
  if (r.weights_version >= 0)
    t.behaviour_version = t.behaviour_version < 0 ? r.weights_version : std::min(t.behaviour_version, r.weights_version);
  ++a.steps;
}

void EpisodeCore::end_env_step() {
  ++length_;
  ++env_steps_unreported_;
}

Status EpisodeCore::check_returns(const std::vector<AgentReward>& rewards) const {
  if (rewards.empty()) return Status::error(ErrorCode::BadRequest, "no rewards");
  // The reward of one step (everything logged for an agent since its action) must stay within
  // max_abs_reward, and so must all rewards of the episode that reach no step (logged before
  // an agent's first action or after it was done, for any number of agents): the learner
  // never sees a larger step reward, and an episode's return is bounded by its steps.
  std::map<std::string, double> step;
  double unattached = unattached_abs_;
  size_t new_agents = 0;
  for (const auto& r : rewards) {
    const int p = policies_.policy_for(id_, r.agent_id);
    if (p < 0)
      return Status::error(ErrorCode::UnknownAgent,
                           "agent " + quote(r.agent_id) + " is not mapped to any policy of this server");
    const double max_r = policies_.spec(p).config.max_abs_reward;
    auto bad = [&](const char* what) {
      return Status::error(ErrorCode::BadRequest, "reward of agent " + quote(r.agent_id) + " (" +
                                                      std::to_string(r.reward) + ") " + what +
                                                      " max_abs_reward (" + std::to_string(max_r) + ")");
    };
    if (!std::isfinite(r.reward)) return bad("is not finite; rewards are bounded by");
    const auto a = agents_.find(r.agent_id);
    if (a == agents_.end() && step.count(r.agent_id) == 0) ++new_agents;
    if (a != agents_.end() && a->second.attached()) {
      auto [it, fresh] = step.try_emplace(r.agent_id, a->second.fragment.rewards.back());
      it->second += r.reward;
      if (!(std::fabs(it->second) <= max_r)) return bad("takes its step's reward beyond");
    } else {
      step.try_emplace(r.agent_id, 0.0);
      unattached += std::fabs(r.reward);
      if (!(unattached <= max_r))
        return bad("takes the episode's rewards outside any step (before an agent's first action or after "
                   "it was done) beyond");
    }
  }
  if (agents_.size() + new_agents > kMaxAgentsPerEpisode)
    return Status::error(ErrorCode::BadRequest, "an episode has at most " + std::to_string(kMaxAgentsPerEpisode) +
                                                    " agents");
  return {};
}

void EpisodeCore::add_returns(const std::vector<AgentReward>& rewards) {
  for (const auto& r : rewards) {
    auto& a = agent(r.agent_id, policies_.policy_for(id_, r.agent_id));
    reward_total_ += r.reward;
    if (!a.attached()) unattached_abs_ += std::fabs(r.reward);
    if (a.done) continue;  // counts in the episode's return only
    a.reward_total += r.reward;
    if (!a.fragment.rewards.empty()) a.fragment.rewards.back() += r.reward;
    if (r.done) {
      close(r.agent_id, a, /*terminated=*/true, 0.f, /*agent_done=*/true);
      a.done = true;
    }
  }
}

Status EpisodeCore::check_end(const std::vector<AgentObs>& agents,
                              std::vector<int>& policy_of_agent) const {
  if (auto s = check_agents(policies_, id_, agents, /*allow_empty=*/true, policy_of_agent); !s.ok())
    return s;
  for (size_t i = 0; i < agents.size(); ++i) {
    if (agents[i].obs.empty()) continue;  // no last observation for this agent
    const auto& spec = policies_.spec(policy_of_agent[i]);
    if (auto s = check_observation(spec, agents[i].agent_id, agents[i].obs); !s.ok()) return s;
  }
  return {};
}

EpisodeSummary EpisodeCore::finish(bool truncated, const std::map<std::string, float>& last_values,
                                   std::map<std::string, double> custom_metrics,
                                   const std::vector<AgentObs>* last_obs) {
  EpisodeSummary s;
  std::vector<float> next_obs;
  for (auto& [id, a] : agents_) {
    if (!a.done) {
      float boot = a.fragment.vf_preds.empty() ? 0.f : a.fragment.vf_preds.back();
      if (auto it = last_values.find(id); it != last_values.end()) boot = it->second;
      next_obs.clear();
      if (last_obs && a.policy >= 0)
        for (const auto& o : *last_obs)
          if (o.agent_id == id && !o.obs.empty()) preprocess_observation(policies_.spec(a.policy), o.obs, next_obs);
      close(id, a, /*terminated=*/!truncated, boot, /*agent_done=*/true, next_obs);
      a.done = true;
    }
    if (a.policy >= 0) s.policy_rewards[policies_.spec(a.policy).policy_id] += a.reward_total;
  }
  s.reward = reward_total_;
  s.length = length_;
  s.custom_metrics = std::move(custom_metrics);
  s.evaluation = !explore_;
  return s;
}

void EpisodeCore::abandon() {
  for (auto& [id, a] : agents_) {
    if (!a.done && !a.fragment.vf_preds.empty()) close(id, a, false, a.fragment.vf_preds.back(), /*agent_done=*/true);
    a.done = true;
  }
}

std::vector<ClosedFragment> EpisodeCore::take_closed() {
  std::vector<ClosedFragment> out;
  out.swap(closed_);
  return out;
}

int64_t EpisodeCore::take_env_steps(int64_t at_most) {
  const int64_t n = std::min(env_steps_unreported_, std::max<int64_t>(at_most, 0));
  env_steps_unreported_ -= n;
  return n;
}

std::map<std::string, double> EpisodeCore::agent_returns() const {
  std::map<std::string, double> out;
  for (const auto& [id, a] : agents_) out[id] = a.reward_total;
  return out;
}

}  // namespace tandem::core
