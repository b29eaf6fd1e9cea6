// RLlib's episode semantics, the same for a remote PolicyClient (the server's episode core)
// and a local one (the client's own core, uploaded with ReportSamples): each case runs both
// modes against one real tandem-server process (--no-train, "output" set) and reads back
// from the experience output ("fragments") exactly what the learner would receive.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "support/each_client.h"
#include "support/requests.h"
#include "support/samples_file.h"
#include "support/server_process.h"

using namespace tandem;
using client::InferenceMode;
using client::PolicyClient;
using client::RequestError;
using test::code_of;
using test::for_each_mode;
using test::ServerProcess;

namespace {

nlohmann::json semantics_config(const std::string& name, int64_t fragment = 1000) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 11,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 1,
               "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
  j["config"]["rollout_fragment_length"] = fragment;
  j["results_dir"] = test::results_path(name) + "/results";
  j["output"] = test::results_path(name) + "/output";
  j["output_config"] = {{"what", "fragments"}};  // each fragment as the learner receives it
  return j;
}

client::ClientOptions options() { return test::client_options(7); }

std::vector<float> obs(int t) { return {0.1f * static_cast<float>(t), -0.2f}; }

}  // namespace

TEST_CASE("rewards between two actions add up; a step without reward gets 0; rewards before the first action count only in the return") {
  const std::string name = "episode_semantics_rewards";
  ServerProcess server(semantics_config(name), name, {"--no-train"});
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-rewards");
    c.log_returns(ep, 10.f);  // before agent0's first action
    c.get_action(ep, obs(0));
    c.log_returns(ep, 1.f);
    c.log_returns(ep, 2.f);
    c.get_action(ep, obs(1));  // no reward logged for this one -> 0
    c.get_action(ep, obs(2));
    c.log_returns(ep, 5.f);
    c.end_episode(ep, obs(3));
    c.flush();
  });
  // Both episodes returned 10 + 3 + 5.
  CHECK(server.metric_reaches("tandem_episodes_total", 2) == 2);
  CHECK(server.metric("tandem_episode_reward_mean") == doctest::Approx(18.0));
  CHECK(server.metric("tandem_timesteps_total") == 6);
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for_each_mode([&](const std::string& m) {
    const auto frags = test::fragments_of(all, m + "-rewards");
    REQUIRE(frags.size() == 1);
    const auto& f = frags[0];
    CHECK_MESSAGE((f.rewards == std::vector<float>{3.f, 0.f, 5.f}), "rewards " << test::str(f.rewards));
    CHECK(f.obs == std::vector<std::vector<float>>{obs(0), obs(1), obs(2)});
    CHECK(f.terminated);
    CHECK(f.bootstrap_value == 0.f);
    CHECK(f.agent_id == "agent0");
    CHECK(f.policy_id == "p");
  });
  CHECK(all.size() == 2);
}

TEST_CASE("rollout_fragment_length cuts fragments, each bootstrapped with the next step's value") {
  const std::string name = "episode_semantics_fragments";
  ServerProcess server(semantics_config(name, /*fragment=*/2), name, {"--no-train"});
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-cut");
    for (int t = 0; t < 5; ++t) {
      c.get_action(ep, obs(t));
      c.log_returns(ep, static_cast<float>(t + 1));
    }
    c.end_episode(ep, obs(5));
    c.flush();
  });
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for_each_mode([&](const std::string& m) {
    const auto frags = test::fragments_of(all, m + "-cut");
    REQUIRE(frags.size() == 3);
    CHECK(frags[0].size() == 2);
    CHECK(frags[1].size() == 2);
    CHECK(frags[2].size() == 1);
    CHECK_FALSE(frags[0].terminated);
    CHECK_FALSE(frags[1].terminated);
    CHECK(frags[2].terminated);
    CHECK(frags[0].bootstrap_value == frags[1].vf_preds[0]);
    CHECK(frags[1].bootstrap_value == frags[2].vf_preds[0]);
    CHECK(frags[2].bootstrap_value == 0.f);
    const auto steps = test::concat(frags);
    CHECK(steps.rewards == std::vector<float>{1.f, 2.f, 3.f, 4.f, 5.f});
    CHECK(steps.obs == std::vector<std::vector<float>>{obs(0), obs(1), obs(2), obs(3), obs(4)});
  });
}

TEST_CASE("a truncated episode is bootstrapped from the value of its last observation") {
  const std::string name = "episode_semantics_truncation";
  ServerProcess server(semantics_config(name), name, {"--no-train"});
  const std::vector<float> last{0.7f, 0.3f};
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-truncated");
    for (int t = 0; t < 3; ++t) {
      c.get_action(ep, obs(t));
      c.log_returns(ep, 1.f);
    }
    c.end_episode(ep, last, /*truncated=*/true);
    c.flush();
  });
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  std::map<std::string, test::SampleLine> by_mode;
  for_each_mode([&](const std::string& m) {
    const auto frags = test::fragments_of(all, m + "-truncated");
    REQUIRE(frags.size() == 1);
    CHECK(frags[0].rewards == std::vector<float>{1.f, 1.f, 1.f});
    CHECK_FALSE(frags[0].terminated);
    CHECK(frags[0].bootstrap_value != 0.f);
    by_mode[m] = frags[0];
  });
  // One model (the server's untrained weights) in both modes: the same values.
  REQUIRE(by_mode.size() == 2);
  const auto& remote = by_mode.at("remote");
  const auto& local = by_mode.at("local");
  CHECK(local.bootstrap_value == doctest::Approx(remote.bootstrap_value).epsilon(1e-4));
  REQUIRE(local.vf_preds.size() == remote.vf_preds.size());
  for (size_t t = 0; t < local.vf_preds.size(); ++t)
    CHECK(local.vf_preds[t] == doctest::Approx(remote.vf_preds[t]).epsilon(1e-4));
}

TEST_CASE("multi-agent: a done agent's fragment is terminated and the agent may not act again") {
  const std::string name = "episode_semantics_multi_agent";
  auto j = semantics_config(name);
  j["policies"] = nlohmann::json::parse(R"({
    "p1": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 3}},
    "p2": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 3}}
  })");
  j["policy_mapping"] = {{"agent1", "p1"}, {"agent2", "p2"}};
  ServerProcess server(j, name, {"--no-train"});
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-ma");
    const client::AgentObs both{{"agent1", {0.1f, 0.2f}}, {"agent2", {0.3f, 0.4f}}};
    CHECK(c.get_action(ep, both).size() == 2);
    c.log_returns(ep, {{"agent1", 1.f}, {"agent2", -0.5f}});
    c.get_action(ep, both);
    c.log_returns(ep, {{"agent1", -1.f}, {"agent2", 1.f}}, {{"agent1", true}});
    CHECK(code_of([&] { c.get_action(ep, client::AgentObs{{"agent1", {0.5f, 0.5f}}}); }) == "UnknownAgent");
    c.get_action(ep, client::AgentObs{{"agent2", {0.5f, 0.6f}}});
    c.log_returns(ep, {{"agent2", 2.f}});
    c.end_episode(ep, client::AgentObs{{"agent2", {0.7f, 0.8f}}});
    c.flush();
  });
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for_each_mode([&](const std::string& m) {
    const auto a1 = test::fragments_of(all, m + "-ma", "agent1");
    REQUIRE(a1.size() == 1);
    CHECK(a1[0].policy_id == "p1");
    CHECK_MESSAGE((a1[0].rewards == std::vector<float>{1.f, -1.f}), "rewards " << test::str(a1[0].rewards));
    CHECK(a1[0].terminated);
    CHECK(a1[0].bootstrap_value == 0.f);
    const auto a2 = test::fragments_of(all, m + "-ma", "agent2");
    REQUIRE(a2.size() == 1);
    CHECK(a2[0].policy_id == "p2");
    CHECK_MESSAGE((a2[0].rewards == std::vector<float>{-0.5f, 1.f, 2.f}), "rewards " << test::str(a2[0].rewards));
    CHECK(a2[0].obs.back() == std::vector<float>{0.5f, 0.6f});
    CHECK(a2[0].terminated);
  });
}

TEST_CASE("training_enabled=false episodes never reach the learner") {
  const std::string name = "episode_semantics_not_trained";
  ServerProcess server(semantics_config(name), name, {"--no-train"});
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto off = c.start_episode(m + "-off", /*training_enabled=*/false);
    for (int t = 0; t < 4; ++t) {
      c.get_action(off, obs(t));
      c.log_returns(off, 1.f);
    }
    c.end_episode(off, obs(4));
    const auto on = c.start_episode(m + "-on");
    for (int t = 0; t < 2; ++t) {
      c.get_action(on, obs(t));
      c.log_returns(on, 1.f);
    }
    c.end_episode(on, obs(2));
    c.flush();
  });
  // Served and counted all the same.
  CHECK(server.metric_reaches("tandem_timesteps_total", 12) == 12);
  CHECK(server.metric("tandem_episodes_total") == 4);
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for_each_mode([&](const std::string& m) {
    CHECK(test::fragments_of(all, m + "-off").empty());
    CHECK(test::steps_in(test::fragments_of(all, m + "-on")) == 2);
  });
  CHECK(all.size() == 2);
}

TEST_CASE("an agent done by LogReturns may neither LogAction nor GetAction again") {
  const std::string name = "episode_semantics_done_agent";
  ServerProcess server(semantics_config(name), name, {"--no-train"});
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-done");
    client::Action a;
    a.discrete = {1};
    c.log_action(ep, obs(0), a);
    c.log_returns(ep, {{"agent0", 2.f}}, {{"agent0", true}});
    // log_action is pipelined in remote mode: its error comes at the latest with flush().
    CHECK(code_of([&] {
            c.log_action(ep, obs(1), a);
            c.flush();
          }) == "UnknownAgent");
    CHECK(code_of([&] { c.get_action(ep, obs(1)); }) == "UnknownAgent");
    c.end_episode(ep, obs(2));
    c.flush();
  });
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for_each_mode([&](const std::string& m) {
    const auto frags = test::fragments_of(all, m + "-done");
    REQUIRE(frags.size() == 1);
    CHECK(frags[0].actions == std::vector<int64_t>{1});
    CHECK(frags[0].rewards == std::vector<float>{2.f});
    CHECK(frags[0].obs == std::vector<std::vector<float>>{obs(0)});
    CHECK(frags[0].terminated);
  });
}

TEST_CASE("an ended episode: a second end_episode is acknowledged, any other call says it has ended") {
  const std::string name = "episode_semantics_ended";
  ServerProcess server(semantics_config(name), name, {"--no-train"});
  test::with_each_client(server, options(), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-ended");
    c.get_action(ep, obs(0));
    c.end_episode(ep, obs(1));
    c.end_episode(ep, obs(1));  // e.g. a simulator that ends twice: not an error
    c.flush();
    CHECK(code_of([&] { c.get_action(ep, obs(2)); }) == "UnknownEpisode");
    CHECK(code_of([&] { c.start_episode(std::string(300, 'x')); }) == "BadRequest");
    CHECK(code_of([&] { c.start_episode(ep); }) == "no error");  // an ended id may be used again
    c.end_episode(ep, obs(0));
    c.flush();
  });
  CHECK(server.metric_reaches("tandem_episodes_total", 4) == 4);
  CHECK(server.stop() == 0);
}
