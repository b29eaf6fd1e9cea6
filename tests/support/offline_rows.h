#pragma once
// Offline rows (core::OfflineBatch) built in a test: episodes of a scripted behaviour, and the
// same as a JSON line in RLlib's SampleBatch layout (for a server's `input`).
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/offline_json.h"

namespace tandem::test {

// One step of a scripted behaviour: the action (discrete or continuous), its reward, and the
// behaviour's log-prob of it.
struct ScriptedStep {
  std::vector<int64_t> discrete;
  std::vector<float> continuous;
  float reward = 0;
  float logp = 0;
};

// `episodes` episodes of `len` steps; obs uniform in [-1, 1]^obs_dim; every episode ends
// terminal (dones on its last row). `act(obs)` is the behaviour.
inline core::OfflineBatch scripted_rows(int episodes, int len, int64_t obs_dim, uint64_t seed,
                                        const std::function<ScriptedStep(const std::vector<float>&)>& act) {
  core::OfflineBatch b;
  b.obs_dim = obs_dim;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int e = 0; e < episodes; ++e) {
    std::vector<float> obs(static_cast<size_t>(obs_dim));
    for (auto& x : obs) x = u(rng);
    for (int t = 0; t < len; ++t) {
      std::vector<float> next(static_cast<size_t>(obs_dim));
      for (auto& x : next) x = u(rng);
      const ScriptedStep s = act(obs);
      b.obs.insert(b.obs.end(), obs.begin(), obs.end());
      b.new_obs.insert(b.new_obs.end(), next.begin(), next.end());
      b.actions.insert(b.actions.end(), s.discrete.begin(), s.discrete.end());
      b.actions_cont.insert(b.actions_cont.end(), s.continuous.begin(), s.continuous.end());
      b.action_width = static_cast<int64_t>(s.discrete.empty() ? s.continuous.size() : s.discrete.size());
      b.rewards.push_back(s.reward);
      b.dones.push_back(t + 1 == len);
      b.truncateds.push_back(0);
      b.t.push_back(t);
      b.eps_id.push_back(std::to_string(e));
      b.unroll_id.push_back(e);
      b.agent_index.push_back(0);
      b.action_logp.push_back(s.logp);
      obs = next;
    }
  }
  b.count = static_cast<int64_t>(b.rewards.size());
  return b;
}

// Rows [begin, end) as one JSON line (RLlib's SampleBatch layout; discrete actions as ints).
inline std::string offline_json_line(const core::OfflineBatch& b, int64_t begin, int64_t end,
                                     const std::string& policy_id) {
  nlohmann::json j = {{"type", "SampleBatch"}, {"policy_id", policy_id}};
  auto rows = [&](const std::vector<float>& v, int64_t w) {
    nlohmann::json a = nlohmann::json::array();
    for (int64_t i = begin; i < end; ++i)
      a.push_back(std::vector<float>(v.begin() + i * w, v.begin() + (i + 1) * w));
    return a;
  };
  j["obs"] = rows(b.obs, b.obs_dim);
  j["new_obs"] = rows(b.new_obs, b.obs_dim);
  nlohmann::json actions = nlohmann::json::array();
  for (int64_t i = begin; i < end; ++i)
    if (!b.actions.empty())
      actions.push_back(b.actions[static_cast<size_t>(i)]);
    else
      actions.push_back(std::vector<float>(b.actions_cont.begin() + i * b.action_width,
                                           b.actions_cont.begin() + (i + 1) * b.action_width));
  j["actions"] = actions;
  auto col = [&](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return std::vector<T>(v.begin() + begin, v.begin() + end);
  };
  j["rewards"] = col(b.rewards);
  nlohmann::json dones = nlohmann::json::array();
  for (int64_t i = begin; i < end; ++i) dones.push_back(b.dones[static_cast<size_t>(i)] != 0);
  j["dones"] = dones;
  j["t"] = col(b.t);
  j["eps_id"] = col(b.eps_id);
  j["agent_index"] = col(b.agent_index);
  j["unroll_id"] = col(b.unroll_id);
  if (!b.action_logp.empty()) {
    j["action_logp"] = col(b.action_logp);
    std::vector<float> p;
    for (float l : col(b.action_logp)) p.push_back(std::exp(l));
    j["action_prob"] = p;
  }
  return j.dump();
}

}  // namespace tandem::test
