#pragma once
// Helpers shared by the request-core tests: a server config with experience output, and
// requests built from plain values.
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/messages.h"
#include "policy_client/policy_client.h"
#include "server_process.h"

namespace tandem::test {

// Box(2) observations, Discrete(3) actions, a tiny model; output and results under
// test_results/NAME.
inline nlohmann::json config_for(const std::string& name) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 2,
               "rollout_fragment_length": 1000, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  j["output"] = test::results_path(name) + "/output";
  j["output_config"] = {{"what", "fragments"}};  // each fragment as the learner receives it
  return j;
}

// Options for a PolicyClient in a test: a short reconnect window, a fast close, a fixed seed.
inline client::ClientOptions client_options(uint64_t seed) {
  client::ClientOptions o;
  o.reconnect_timeout_s = 10;
  o.close_timeout_s = 1;
  o.seed = seed;
  return o;
}

inline core::AgentObs agent_obs(std::vector<float> obs, std::string agent = "agent0") {
  return core::AgentObs{std::move(agent), std::move(obs), {}};
}
inline core::Request start(const std::string& ep) { return core::StartEpisode{ep}; }
inline core::Request get_action(const std::string& ep, std::vector<float> obs) {
  return core::GetAction{ep, {agent_obs(std::move(obs))}};
}
inline core::Request log_action(const std::string& ep, std::vector<float> obs, int64_t action) {
  return core::LogAction{ep, {agent_obs(std::move(obs))}, {{"agent0", {action}, {}}}};
}
inline core::Request log_returns(const std::string& ep, float reward) {
  return core::LogReturns{ep, {{"agent0", reward, false}}};
}
inline core::Request end_episode(const std::string& ep, std::vector<float> obs) {
  return core::EndEpisode{ep, {agent_obs(std::move(obs))}, false, {}};
}

inline bool started(const core::Reply& r, const std::string& ep) {
  const auto* s = std::get_if<core::EpisodeStarted>(&r);
  return s && s->episode_id == ep;
}

inline const std::vector<int64_t>& discrete_actions(const core::Reply& r) {
  static const std::vector<int64_t> none;
  const auto* a = std::get_if<core::Actions>(&r);
  return a && !a->actions.empty() ? a->actions[0].discrete : none;
}

// Joins the threads on every way out of the scope (a failed REQUIRE included).
struct Joiner {
  std::vector<std::thread>& threads;
  ~Joiner() {
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

}  // namespace tandem::test
