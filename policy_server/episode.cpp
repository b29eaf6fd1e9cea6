#include "policy_server/episode.h"

namespace tandem::server {

Episode::Episode(std::string id, bool training_enabled, bool explore,
                 const std::vector<algo::PolicySpec>& policies, SampleQueue& queue)
    : id_(std::move(id)),
      training_enabled_(training_enabled),
      explore_(explore),
      policies_(policies),
      queue_(queue) {}

AgentTrack* Episode::agent(const std::string& agent_id) {
  auto it = agents_.find(agent_id);
  return it == agents_.end() ? nullptr : &it->second;
}

AgentTrack& Episode::ensure_agent(const std::string& agent_id, int policy) {
  auto [it, inserted] = agents_.try_emplace(agent_id);
  if (inserted) {
    it->second.policy = policy;
    it->second.traj.obs_dim = policies_[policy].observation_space.preprocessed_size();
  }
  return it->second;
}

void Episode::close_fragment(AgentTrack& a, bool terminated, float bootstrap_value) {
  if (a.traj.size() == 0) return;
  a.traj.terminated = terminated;
  a.traj.bootstrap_value = terminated ? 0.f : bootstrap_value;
  const int64_t obs_dim = a.traj.obs_dim;
  if (training_enabled_) {
    if (hold_samples_)
      held_.emplace_back(a.policy, std::move(a.traj));
    else
      queue_.push(a.policy, std::move(a.traj));
  }
  a.traj = algo::Trajectory{};
  a.traj.obs_dim = obs_dim;
}

void Episode::record_step(AgentTrack& a, std::span<const float> obs_pre,
                          const algo::ActionResult& r) {
  const auto& cfg = policies_[a.policy].config;
  if (a.traj.size() >= cfg.rollout_fragment_length) close_fragment(a, false, r.vf_pred);
  auto& t = a.traj;
  t.obs.insert(t.obs.end(), obs_pre.begin(), obs_pre.end());
  t.actions.insert(t.actions.end(), r.discrete.begin(), r.discrete.end());
  t.actions_cont.insert(t.actions_cont.end(), r.continuous.begin(), r.continuous.end());
  t.action_logp.push_back(r.logp);
  t.vf_preds.push_back(r.vf_pred);
  t.dist_inputs.insert(t.dist_inputs.end(), r.dist_inputs.begin(), r.dist_inputs.end());
  t.rewards.push_back(0.f);
  ++a.steps;
}

void Episode::add_reward(AgentTrack& a, float reward, bool done) {
  reward_total_ += reward;
  a.reward_total += reward;
  if (!a.traj.rewards.empty()) a.traj.rewards.back() += reward;
  if (done) {
    close_fragment(a, /*terminated=*/true, 0.f);
    a.done = true;
  }
}

EpisodeSummary Episode::finish(bool truncated, const std::map<std::string, float>& last_values,
                               std::map<std::string, double> custom_metrics) {
  EpisodeSummary s;
  hold_samples_ = true;
  for (auto& [id, a] : agents_) {
    if (!a.done) {
      float boot = a.traj.vf_preds.empty() ? 0.f : a.traj.vf_preds.back();
      if (auto it = last_values.find(id); it != last_values.end()) boot = it->second;
      close_fragment(a, !truncated, boot);
      a.done = true;
    }
    s.policy_rewards[policies_[a.policy].policy_id] += a.reward_total;
  }
  s.reward = reward_total_;
  s.length = length_;
  s.custom_metrics = std::move(custom_metrics);
  s.evaluation = !explore_;
  return s;
}

void Episode::release_samples() {
  for (auto& [policy, t] : held_) queue_.push(policy, std::move(t));
  held_.clear();
}

void Episode::abandon() {
  for (auto& [id, a] : agents_) {
    if (!a.done && !a.traj.vf_preds.empty()) close_fragment(a, false, a.traj.vf_preds.back());
    a.done = true;
  }
}

}  // namespace tandem::server
