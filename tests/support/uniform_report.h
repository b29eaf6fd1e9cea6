#pragma once
// A well-formed ReportSamples for tests and benches (no doctest): one agent's `T` steps with
// the observation `obs_row` each, uniform logits over Discrete(n), action 0 (its log-prob
// -log n), reward 1 per step; done: the episode ends with it (length T, reward T).
#include <cmath>
#include <string>
#include <vector>

#include "core/messages.h"

namespace tandem::test {

inline core::ReportSamples uniform_report(const std::string& episode_id, int T, const std::vector<float>& obs_row,
                                          int n, bool done, const std::string& agent = "agent0") {
  core::ReportSamples rep;
  rep.episode_id = episode_id;
  core::AgentFragment f;
  f.agent_id = agent;
  for (int t = 0; t < T; ++t) {
    f.steps.obs.insert(f.steps.obs.end(), obs_row.begin(), obs_row.end());
    f.steps.actions.push_back(0);
    f.steps.action_logp.push_back(static_cast<float>(-std::log(static_cast<double>(n))));
    f.steps.vf_preds.push_back(0.f);
    f.steps.dist_inputs.insert(f.steps.dist_inputs.end(), static_cast<size_t>(n), 0.f);
    f.steps.rewards.push_back(1.f);
  }
  f.steps.terminated = done;
  rep.fragments.push_back(std::move(f));
  rep.env_steps = T;
  rep.episode_done = done;
  rep.episode_length = T;
  rep.episode_reward = T;
  rep.agent_rewards = {{agent, static_cast<float>(T), false}};
  return rep;
}

}  // namespace tandem::test
