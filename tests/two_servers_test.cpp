// One simulator, two servers (PPO and A2C), each owning one agent of a shared
// MultiAgentArena: both train, and each sees exactly its own agent's steps.
#include <doctest/doctest.h>

#include <thread>

#include "policy_client/policy_client.h"
#include "policy_server/server.h"
#include "policy_server/server_context.h"
#include "sims/multi_agent_arena.h"

using namespace tandem;

namespace {
std::unique_ptr<server::Server> start(const std::string& algo, const std::string& policy,
                                      const std::string& agent) {
  auto j = nlohmann::json::parse(R"({
    "port": 0, "seed": 5,
    "config": {"train_batch_size": 100, "rollout_fragment_length": 20, "sgd_minibatch_size": 50,
               "num_sgd_iter": 2, "model": {"fcnet_hiddens": [16]}}
  })");
  j["algorithm"] = algo;
  j["results_dir"] = "test_results/two_servers_" + algo;
  j["policies"][policy] = {{"observation_space", {{"type", "multi_discrete"}, {"nvec", {16, 16}}}},
                           {"action_space", {{"type", "discrete"}, {"n", 4}}}};
  j["policy_mapping"][agent] = policy;
  auto s = std::make_unique<server::Server>(server::parse_server_config(j));
  s->start();
  return s;
}
}  // namespace

TEST_CASE("two servers train concurrently on one shared simulation") {
  auto ppo = start("ppo", "policy1", "agent1");
  auto a2c = start("a2c", "policy2", "agent2");
  client::PolicyClient c1("ws://127.0.0.1:" + std::to_string(ppo->port()));
  client::PolicyClient c2("ws://127.0.0.1:" + std::to_string(a2c->port()));
  sims::ArenaConfig cfg;
  cfg.width = cfg.height = 4;
  cfg.episode_len = 10;
  sims::MultiAgentArena env(cfg);
  const int episodes = 40;
  for (int e = 0; e < episodes; ++e) {
    auto obs = env.reset();
    auto ep1 = c1.start_episode();
    auto ep2 = c2.start_episode();
    for (;;) {
      sims::ActionDict act;
      act["agent1"] = c1.get_action(ep1, client::AgentObs{{"agent1", obs.at("agent1")}}).at("agent1").as_int();
      act["agent2"] = c2.get_action(ep2, client::AgentObs{{"agent2", obs.at("agent2")}}).at("agent2").as_int();
      auto r = env.step(act);
      c1.log_returns(ep1, {{"agent1", r.rewards.at("agent1")}});
      c2.log_returns(ep2, {{"agent2", r.rewards.at("agent2")}});
      obs = r.obs;
      if (r.all_done) break;
    }
    c1.end_episode(ep1, client::AgentObs{{"agent1", obs.at("agent1")}}, true);
    c2.end_episode(ep2, client::AgentObs{{"agent2", obs.at("agent2")}}, true);
  }
  c1.flush();
  c2.flush();
  for (int i = 0; i < 200 && (ppo->context().training_iteration < 3 || a2c->context().training_iteration < 3); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(ppo->context().training_iteration >= 3);
  CHECK(a2c->context().training_iteration >= 3);
  // Each server saw exactly its own agent's steps: 40 episodes x 10 steps, one agent each.
  auto m1 = ppo->context().stats.peek();
  auto m2 = a2c->context().stats.peek();
  CHECK(m1.timesteps_total == episodes * 10);
  CHECK(m1.agent_timesteps_total == episodes * 10);
  CHECK(m2.agent_timesteps_total == episodes * 10);
  CHECK(m1.policy_reward_mean.count("policy1") == 1);
  CHECK(m1.policy_reward_mean.count("policy2") == 0);
  CHECK(m2.policy_reward_mean.count("policy2") == 1);
  // And an agent the server does not own is refused by name.
  auto ep = c1.start_episode();
  CHECK_THROWS_WITH_AS(c1.get_action(ep, client::AgentObs{{"agent2", {0, 0}}}),
                       doctest::Contains("agent2"), client::RequestError);
}
