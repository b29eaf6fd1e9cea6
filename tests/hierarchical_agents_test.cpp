// Hierarchical multi-agent episodes (issue 15, the robots-and-chickens pattern): agents map
// to policies by glob pattern, act only at the steps the simulator asks them to, appear
// mid-episode, finish (done) while others go on, and get every reward logged for them since
// their last action. Each case runs a remote and a local PolicyClient against one real
// tandem-server process and reads back what the learner receives (experience output) and the
// per-policy returns of result.json.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "support/each_client.h"
#include "support/requests.h"
#include "support/result_rows.h"
#include "support/samples_file.h"
#include "support/server_process.h"

using namespace tandem;
using client::AgentObs;
using client::PolicyClient;
using test::code_of;
using test::for_each_mode;
using test::ServerProcess;

namespace {

nlohmann::json hierarchy_config(const std::string& name) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 5, "report_interval_s": 0.2,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 1,
               "rollout_fragment_length": 1000, "model": {"fcnet_hiddens": [8]}},
    "policies": {
      "high": {"observation_space": {"type": "box", "shape": [3]}, "action_space": {"type": "discrete", "n": 4}},
      "low": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 8}}},
    "policy_mapping": [["*_high", "high"], ["*_low", "low"]]
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  j["output"] = test::results_path(name) + "/output";
  j["output_config"] = {{"what", "fragments"}};  // each fragment as the learner receives it
  return j;
}

std::vector<float> hi(float x) { return {x, 0.5f, -0.5f}; }
std::vector<float> lo(float x) { return {x, 0.25f}; }

}  // namespace

TEST_CASE("hierarchy: high agents act once, low agents appear later, rewards accumulate across skipped steps, done agents leave") {
  const std::string name = "hierarchical_agents";
  ServerProcess server(hierarchy_config(name), name, {"--no-train"});
  test::with_each_client(server, test::client_options(3), [&](PolicyClient& c, const std::string& m) {
    const auto ep = c.start_episode(m + "-yard");
    // Step 0: only the high levels choose (a target each).
    CHECK(c.get_action(ep, AgentObs{{"robot_1_high", hi(0.1f)}, {"robot_2_high", hi(0.2f)}}).size() == 2);
    // An agent no pattern places is refused and changes nothing.
    CHECK(code_of([&] { c.get_action(ep, AgentObs{{"robot_1_mid", hi(0.f)}}); }) == "UnknownAgent");
    // Step 1: the low levels appear for the first time; the high levels wait, but the time
    // the robots spend is charged to them as well.
    c.get_action(ep, AgentObs{{"robot_1_low", lo(0.1f)}, {"robot_2_low", lo(0.2f)}});
    c.log_returns(ep, {{"robot_1_low", -0.01f}, {"robot_2_low", -0.01f},
                       {"robot_1_high", -0.01f}, {"robot_2_high", -0.01f}});
    // Step 2: robot 1 arrives: its low level gets the arrival bonus, its high level the match;
    // both are done, robot 2 goes on.
    c.get_action(ep, AgentObs{{"robot_1_low", lo(0.3f)}, {"robot_2_low", lo(0.4f)}});
    c.log_returns(ep, {{"robot_1_low", 1.f}, {"robot_1_high", 0.5f},
                       {"robot_2_low", -0.01f}, {"robot_2_high", -0.01f}},
                  {{"robot_1_low", true}, {"robot_1_high", true}});
    // A done agent coming back is an error; so is a done high level asking again.
    CHECK(code_of([&] { c.get_action(ep, AgentObs{{"robot_1_low", lo(0.5f)}}); }) == "UnknownAgent");
    CHECK(code_of([&] { c.get_action(ep, AgentObs{{"robot_1_high", hi(0.5f)}}); }) == "UnknownAgent");
    // Step 3: robot 2 arrives; a third robot's low level appears for the first time.
    c.get_action(ep, AgentObs{{"robot_2_low", lo(0.6f)}, {"robot_3_low", lo(0.7f)}});
    c.log_returns(ep, {{"robot_2_low", 1.f}, {"robot_2_high", 0.3f}, {"robot_3_low", 0.2f}},
                  {{"robot_2_low", true}, {"robot_2_high", true}});
    c.end_episode(ep, AgentObs{{"robot_3_low", lo(0.8f)}});
    c.flush();
  });
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for_each_mode([&](const std::string& m) {
    const std::string ep = m + "-yard";
    auto one = [&](const std::string& agent) {
      auto f = test::fragments_of(all, ep, agent);
      REQUIRE_MESSAGE(f.size() == 1, agent);
      return f[0];
    };
    const auto h1 = one("robot_1_high"), h2 = one("robot_2_high");
    CHECK(h1.policy_id == "high");
    CHECK(h1.size() == 1);  // acted once: every reward since then is that step's
    CHECK(h1.rewards[0] == doctest::Approx(-0.01f + 0.5f));
    CHECK(h1.terminated);
    CHECK(h2.size() == 1);
    CHECK(h2.rewards[0] == doctest::Approx(-0.01f - 0.01f + 0.3f));
    CHECK(h2.terminated);
    CHECK(h2.obs[0] == hi(0.2f));
    const auto l1 = one("robot_1_low"), l2 = one("robot_2_low"), l3 = one("robot_3_low");
    CHECK(l1.policy_id == "low");
    CHECK(l1.obs == std::vector<std::vector<float>>{lo(0.1f), lo(0.3f)});
    CHECK_MESSAGE((l1.rewards == std::vector<float>{-0.01f, 1.f}), test::str(l1.rewards));
    CHECK(l1.terminated);
    CHECK_MESSAGE((l2.rewards == std::vector<float>{-0.01f, -0.01f, 1.f}), test::str(l2.rewards));
    CHECK(l3.obs == std::vector<std::vector<float>>{lo(0.7f)});
    CHECK(l3.rewards == std::vector<float>{0.2f});
    CHECK(l3.terminated);  // the episode ended (not truncated) with it still going
    CHECK(test::fragments_of(all, ep, "robot_1_mid").empty());
  });
  // Each agent counted once: high 0.49 + 0.28, low 0.99 + 0.98 + 0.2; both episodes alike.
  const auto rows = test::read_result_rows(test::results_path(name) + "/results");
  REQUIRE(!rows.empty());
  double high = 0, low = 0, total = 0, len = 0, episodes = 0;
  for (const auto& r : rows) {
    const double n = r.at("episodes_this_iter").get<double>();
    if (n == 0) continue;
    high += n * r.at("policy_reward_mean").at("high").get<double>();
    low += n * r.at("policy_reward_mean").at("low").get<double>();
    total += n * r.at("episode_reward_mean").get<double>();
    len += n * r.at("episode_len_mean").get<double>();
    episodes += n;
  }
  REQUIRE(episodes == 2);
  CHECK(high / episodes == doctest::Approx(0.77).epsilon(1e-4));
  CHECK(low / episodes == doctest::Approx(2.17).epsilon(1e-4));
  CHECK(total / episodes == doctest::Approx(2.94).epsilon(1e-4));
  CHECK(len / episodes == doctest::Approx(4.0));  // env steps: the requests that acted
}
