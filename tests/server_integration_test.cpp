// Server + PolicyClient in one process, on an ephemeral port: RLlib's episode semantics
// and the handling of bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "policy_client/policy_client.h"
#include "support/local_rig.h"
#include "policy_server/server.h"
#include "schemas/codec.h"
#include "policy_server/server_context.h"

using namespace tandem;
using client::PolicyClient;
using client::RequestError;

namespace {

nlohmann::json single_agent_config() {
  return nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3, "results_dir": "test_results/integration",
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 2,
               "rollout_fragment_length": 1000, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
}

using test_local::Running;

const std::vector<float> kObs{0.1f, -0.2f};

}  // namespace

TEST_CASE("rewards between two actions add up and belong to the earlier action") {
  Running r(single_agent_config());
  PolicyClient c(r.address);
  auto ep = c.start_episode();
  c.get_action(ep, kObs);
  c.log_returns(ep, 1.f);
  c.log_returns(ep, 2.f);
  c.get_action(ep, kObs);  // no reward logged for this one -> 0
  c.get_action(ep, kObs);
  c.log_returns(ep, 5.f);
  c.end_episode(ep, kObs);
  c.flush();
  auto t = r.take();
  REQUIRE(t.size() == 1);
  CHECK(t[0].rewards == std::vector<float>{3.f, 0.f, 5.f});
  CHECK(t[0].terminated);
  CHECK(t[0].bootstrap_value == 0.f);
  CHECK(r.srv->context().stats.peek().episodes_total == 1);
  CHECK(r.srv->context().stats.peek().episode_reward.mean == doctest::Approx(8.0));
  CHECK(r.srv->context().stats.timesteps_total() == 3);
}

TEST_CASE("truncated episodes bootstrap from the value of the last observation") {
  Running r(single_agent_config());
  PolicyClient c(r.address);
  auto ep = c.start_episode();
  c.get_action(ep, kObs);
  c.log_returns(ep, 1.f);
  const std::vector<float> last{0.7f, 0.3f};
  c.end_episode(ep, last, /*truncated=*/true);
  c.flush();
  auto t = r.take();
  REQUIRE(t.size() == 1);
  CHECK_FALSE(t[0].terminated);
  std::vector<float> v;
  r.srv->context().policies.model(0)->compute_values(last, 1, v);
  CHECK(t[0].bootstrap_value == doctest::Approx(v[0]));
  CHECK(t[0].bootstrap_value != 0.f);
}

TEST_CASE("training_enabled=false episodes are served and counted but never trained on") {
  Running r(single_agent_config());
  PolicyClient c(r.address);
  auto ep = c.start_episode(std::nullopt, /*training_enabled=*/false);
  for (int i = 0; i < 4; ++i) {
    c.get_action(ep, kObs);
    c.log_returns(ep, 1.f);
  }
  c.end_episode(ep, kObs);
  c.flush();
  CHECK(r.take().empty());
  CHECK(r.srv->context().stats.peek().episodes_total == 1);
  CHECK(r.srv->context().stats.peek().episode_reward.mean == doctest::Approx(4.0));
}

TEST_CASE("long episodes are cut into fragments bootstrapped with the next step's value") {
  auto j = single_agent_config();
  j["config"]["rollout_fragment_length"] = 2;
  Running r(j);
  PolicyClient c(r.address);
  auto ep = c.start_episode();
  for (int i = 0; i < 5; ++i) {
    c.get_action(ep, kObs);
    c.log_returns(ep, 1.f);
  }
  c.end_episode(ep, kObs);
  c.flush();
  auto t = r.take();
  REQUIRE(t.size() == 3);
  CHECK(t[0].size() == 2);
  CHECK_FALSE(t[0].terminated);
  CHECK(t[0].bootstrap_value == doctest::Approx(t[1].vf_preds[0]));
  CHECK(t[2].size() == 1);
  CHECK(t[2].terminated);
}

TEST_CASE("multi-agent: mapping, per-agent rewards and done flags") {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "results_dir": "test_results/ma",
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "model": {"fcnet_hiddens": [8]}},
    "policies": {
      "p1": {"observation_space": {"type": "multi_discrete", "nvec": [4, 4]}, "action_space": {"type": "discrete", "n": 4}},
      "p2": {"observation_space": {"type": "multi_discrete", "nvec": [4, 4]}, "action_space": {"type": "discrete", "n": 4}}},
    "policy_mapping": {"agent1": "p1", "agent2": "p2"}
  })");
  Running r(j);
  PolicyClient c(r.address);
  auto ep = c.start_episode();
  client::AgentObs both{{"agent1", {0, 3}}, {"agent2", {3, 0}}};
  auto acts = c.get_action(ep, both);
  REQUIRE(acts.size() == 2);
  CHECK(acts.at("agent1").as_int() >= 0);
  CHECK(acts.at("agent1").as_int() < 4);
  c.log_returns(ep, {{"agent1", 1.f}, {"agent2", -0.1f}});
  c.get_action(ep, both);
  c.log_returns(ep, {{"agent1", -1.f}, {"agent2", 1.f}}, {{"agent1", true}});
  // agent1 is done: it may not act again.
  CHECK_THROWS_AS(c.get_action(ep, client::AgentObs{{"agent1", {0, 1}}}), RequestError);
  c.get_action(ep, client::AgentObs{{"agent2", {1, 2}}});
  c.log_returns(ep, {{"agent2", 2.f}});
  c.end_episode(ep, client::AgentObs{{"agent2", {1, 2}}});
  c.flush();
  auto t1 = r.take(0);
  REQUIRE(t1.size() == 1);
  CHECK(t1[0].rewards == std::vector<float>{1.f, -1.f});
  CHECK(t1[0].terminated);
  CHECK(t1[0].obs.size() == 2 * 8);  // one-hot MultiDiscrete([4,4])
  CHECK(t1[0].obs[0] == 1.f);
  CHECK(t1[0].obs[4 + 3] == 1.f);
  auto m = r.srv->context().stats.peek();
  CHECK(m.policy_reward_mean.at("p1") == doctest::Approx(0.0));
  CHECK(m.policy_reward_mean.at("p2") == doctest::Approx(2.9));
  CHECK(r.srv->context().stats.timesteps_total() == 3);
}

TEST_CASE("bad requests get an Error naming the problem and change nothing") {
  Running r(single_agent_config());
  PolicyClient c(r.address);
  auto code_of = [&](auto&& f) {
    try {
      f();
    } catch (const RequestError& e) {
      return e.code;
    }
    return std::string("no error");
  };
  CHECK(code_of([&] { c.get_action("nope", kObs); }) == "UnknownEpisode");
  auto ep = c.start_episode("mine");
  CHECK(ep == "mine");
  CHECK(code_of([&] { c.start_episode("mine"); }) == "DuplicateEpisode");
  CHECK(code_of([&] { c.get_action(ep, std::vector<float>{1, 2, 3}); }) == "BadObservation");
  CHECK(code_of([&] { c.get_action(ep, std::vector<float>{NAN, 0}); }) == "BadObservation");
  // A pipelined request's error is thrown by the next call.
  c.log_returns("nope", 1.f);
  CHECK(code_of([&] { c.flush(); }) == "UnknownEpisode");
  c.log_returns("nope", 1.f);
  c.get_action(ep, kObs);  // succeeds; the earlier error arrives meanwhile
  CHECK(code_of([&] { c.get_action(ep, kObs); }) == "UnknownEpisode");
  // Several failed pipelined calls: the next call throws the first, naming the others.
  c.log_returns("nope", 1.f);
  c.log_returns("nope-too", 1.f);
  c.end_episode("nope-either", kObs);
  try {
    c.flush();
    FAIL("flush() threw nothing");
  } catch (const RequestError& e) {
    CHECK(e.code == "UnknownEpisode");
    CHECK(e.request.find("nope") != std::string::npos);
    REQUIRE(e.also_failed.size() == 2);
    CHECK(e.also_failed[0].find("nope-too") != std::string::npos);
    CHECK(e.also_failed[1].find("nope-either") != std::string::npos);
    CHECK(std::string(e.what()).find("2 more pipelined") != std::string::npos);
  }
  // The episode is intact: no step was recorded by the failed calls.
  c.get_action(ep, kObs);
  c.end_episode(ep, kObs);
  c.flush();
  auto t = r.take();
  REQUIRE(t.size() == 1);
  CHECK(t[0].size() == 2);
}

TEST_CASE("garbage frames and abrupt disconnects do not disturb other clients") {
  Running r(single_agent_config());
  PolicyClient good(r.address);
  auto ep = good.start_episode();
  good.get_action(ep, kObs);
  {
    test_local::BlockingSocket ws(r.srv->port());
    std::vector<uint8_t> junk(64, 0xAB);
    auto d = wire::decode_reply(ws.roundtrip(junk));
    REQUIRE(d.status.ok());
    REQUIRE(std::holds_alternative<core::Error>(d.reply));
    CHECK(std::get<core::Error>(d.reply).code == core::ErrorCode::BadFrame);
    // Truncated valid frame.
    auto f = wire::encode_request(7, core::GetConfig{});
    auto d2 = wire::decode_reply(ws.roundtrip(std::span<const uint8_t>(f).first(f.size() / 2)));
    REQUIRE(d2.status.ok());
    CHECK(std::holds_alternative<core::Error>(d2.reply));
  }
  {
    // Abrupt disconnect in the middle of an episode: the socket just goes away.
    PolicyClient quitter(r.address);
    auto ep2 = quitter.start_episode("abandoned");
    quitter.get_action(ep2, kObs);
  }
  good.get_action(ep, kObs);
  good.log_returns(ep, 1.f);
  good.end_episode(ep, kObs);
  good.flush();
  // The abandoned episode is still open and can be continued by another connection.
  PolicyClient other(r.address);
  other.get_action("abandoned", kObs);
  other.end_episode("abandoned", kObs);
  other.flush();
  CHECK(r.srv->context().stats.peek().episodes_total == 2);
}

TEST_CASE("the server trains while it serves and publishes new weight versions") {
  Running r(single_agent_config(), /*train=*/true);
  PolicyClient c(r.address);
  for (int e = 0; e < 20; ++e) {
    auto ep = c.start_episode();
    for (int i = 0; i < 10; ++i) {
      c.get_action(ep, kObs);
      c.log_returns(ep, 1.f);
    }
    c.end_episode(ep, kObs);
  }
  c.flush();
  for (int i = 0; i < 100 && r.srv->context().training_iteration.load() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(r.srv->context().training_iteration.load() >= 2);
  CHECK(r.srv->context().policies.model(0)->version() >= 2);
}

TEST_CASE("log_action records the client's action with its behaviour log-probability") {
  Running r(single_agent_config());
  PolicyClient c(r.address);
  auto ep = c.start_episode();
  client::Action a;
  a.discrete = {2};
  c.log_action(ep, kObs, a);
  c.log_returns(ep, 1.f);
  a.discrete = {7};  // outside Discrete(3)
  c.log_action(ep, kObs, a);
  bool threw = false;
  try {
    c.flush();
  } catch (const RequestError& e) {
    threw = e.code == "BadAction";
  }
  CHECK(threw);
  c.end_episode(ep, kObs);
  c.flush();
  auto t = r.take();
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].size() == 1);
  CHECK(t[0].actions[0] == 2);
  CHECK(t[0].rewards[0] == 1.f);
  const auto& logits = t[0].dist_inputs;
  REQUIRE(logits.size() == 3);
  double mx = std::max({logits[0], logits[1], logits[2]}), z = 0;
  for (float l : logits) z += std::exp(l - mx);
  CHECK(t[0].action_logp[0] == doctest::Approx(logits[2] - mx - std::log(z)).epsilon(1e-4));
}
