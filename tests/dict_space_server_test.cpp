// A Dict observation space against a real tandem-server process: the C++ client sends named
// components (remote and local inference), the flat vector in sorted key order gives the same
// greedy actions, the server trains on it, and a wrong component is a RequestError naming it.
#include <doctest/doctest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "support/server_process.h"

using namespace tandem;
using client::AgentNamedObs;
using client::NamedObs;

namespace {

nlohmann::json dict_config(const std::string& name) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 2,
               "rollout_fragment_length": 16, "model": {"fcnet_hiddens": [16]}},
    "policies": {
      "yard": {"observation_space": {"type": "dict", "spaces": {
                   "robot_position": {"type": "box", "shape": [2], "low": 0, "high": 1},
                   "chicken_oceans": {"type": "box", "shape": [3, 2], "low": -1, "high": 1},
                   "target": {"type": "discrete", "n": 3}}},
               "action_space": {"type": "discrete", "n": 4}},
      "flat": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 2}}
    },
    "policy_mapping": {"*": "yard", "flat_agent": "flat"}
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  return j;
}

NamedObs random_named(std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u01(0.f, 1.f), u11(-1.f, 1.f);
  NamedObs o;
  o["robot_position"] = {u01(rng), u01(rng)};
  for (int i = 0; i < 6; ++i) o["chicken_oceans"].push_back(u11(rng));
  o["target"] = {static_cast<float>(rng() % 3)};
  return o;
}

// Sorted keys: chicken_oceans, robot_position, target.
std::vector<float> flat(const NamedObs& o) {
  std::vector<float> v = o.at("chicken_oceans");
  v.insert(v.end(), o.at("robot_position").begin(), o.at("robot_position").end());
  v.push_back(o.at("target")[0]);
  return v;
}

std::string error_of(const std::function<void()>& f, std::string* code = nullptr, std::string* request = nullptr) {
  try {
    f();
  } catch (const client::RequestError& e) {
    if (code) *code = e.code;
    if (request) *request = e.request;
    return e.message;
  }
  return "";
}

}  // namespace

TEST_CASE("dict spaces: named components end to end, remote and local") {
  const std::string name = "dict_space_server";
  test::ServerProcess s(dict_config(name), name);
  std::mt19937_64 rng(5);
  std::vector<NamedObs> probe;
  for (int i = 0; i < 20; ++i) probe.push_back(random_named(rng));
  std::vector<int64_t> greedy;
  {
    client::PolicyClient c(s.address());
    for (int e = 0; e < 5; ++e) {  // 80 steps: one training iteration of 64
      const auto ep = c.start_episode();
      for (int t = 0; t < 16; ++t) {
        const auto a = c.get_action(ep, AgentNamedObs{{"agent0", random_named(rng)}}).at("agent0").as_int();
        CHECK((a >= 0 && a < 4));
        c.log_returns(ep, 1.f);
      }
      c.end_episode(ep, AgentNamedObs{{"agent0", random_named(rng)}});
    }
    c.flush();
    REQUIRE(test::eventually([&] { return s.metric("tandem_training_iteration") >= 1; }, 30));
    CHECK(s.metric("tandem_learner_errors_total") == 0);

    // Greedy: the named components and the flat vector in sorted order act alike.
    const auto ep = c.start_episode(std::nullopt, false, false);
    for (const auto& o : probe) {
      const auto a = c.get_action(ep, AgentNamedObs{{"agent0", o}}).at("agent0").as_int();
      const auto f = flat(o);
      CHECK(c.get_action(ep, f).as_int() == a);
      greedy.push_back(a);
    }
    c.log_action(ep, AgentNamedObs{{"agent0", probe[0]}}, {{"agent0", client::Action{{1}, {}}}});

    // Errors name the agent and the component, before anything is sent.
    std::string code, request;
    auto o = probe[0];
    o["robot_pos"] = {0.f, 0.f};
    auto msg = error_of([&] { c.get_action(ep, AgentNamedObs{{"agent0", o}}); }, &code, &request);
    CHECK(code == "BadObservation");
    CHECK(request == "GetAction(" + ep + ")");
    CHECK(msg.find("agent 'agent0'") != std::string::npos);
    CHECK(msg.find("unknown component 'robot_pos'") != std::string::npos);
    o = probe[0];
    o.erase("target");
    CHECK(error_of([&] { c.get_action(ep, AgentNamedObs{{"agent0", o}}); }).find("component 'target'") !=
          std::string::npos);
    o = probe[0];
    o["chicken_oceans"].pop_back();
    CHECK(error_of([&] { c.get_action(ep, AgentNamedObs{{"agent0", o}}); })
              .find("component 'chicken_oceans' has 5 values") != std::string::npos);
    CHECK(error_of([&] { c.get_action(ep, AgentNamedObs{{"flat_agent", {{"x", {1.f, 2.f}}}}}); }).find("Dict") !=
          std::string::npos);
    // A value out of its bounds: the server's check names the component.
    o = probe[0];
    o["robot_position"][1] = 1.7f;
    msg = error_of([&] { c.get_action(ep, AgentNamedObs{{"agent0", o}}); }, &code);
    CHECK(code == "BadObservation");
    CHECK(msg.find("component 'robot_position': element 1") != std::string::npos);
    c.end_episode(ep, AgentNamedObs{{"agent0", probe[1]}});
    c.flush();
  }
  {
    client::PolicyClient c(s.address(), client::InferenceMode::Local);
    const auto ep = c.start_episode(std::nullopt, false, false);
    for (size_t i = 0; i < probe.size(); ++i)
      CHECK(c.get_action(ep, AgentNamedObs{{"agent0", probe[i]}}).at("agent0").as_int() == greedy[i]);
    auto o = probe[0];
    o["robot_position"][0] = -0.5f;
    std::string code;
    const auto msg = error_of([&] { c.get_action(ep, AgentNamedObs{{"agent0", o}}); }, &code);
    CHECK(code == "BadObservation");
    CHECK(msg.find("component 'robot_position': element 0") != std::string::npos);
    o = probe[0];
    o["wrong"] = {1.f};
    CHECK(error_of([&] { c.get_action(ep, AgentNamedObs{{"agent0", o}}); }).find("unknown component 'wrong'") !=
          std::string::npos);
    c.end_episode(ep, AgentNamedObs{{"agent0", probe[1]}});
    c.flush();
  }
  CHECK(s.metric("tandem_learner_errors_total") == 0);
  CHECK(s.stop() == 0);
}
