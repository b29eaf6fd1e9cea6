// Evaluation episodes (training_enabled=false, explore=false), custom metrics per
// iteration, and a --no-train server's result rows.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "policy_client/policy_client.h"
#include "support/result_rows.h"
#include "policy_server/server.h"
#include "policy_server/server_context.h"

using namespace tandem;

namespace {

nlohmann::json config(const std::string& dir) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 11, "checkpoint_at_end": false,
    "config": {"train_batch_size": 40, "sgd_minibatch_size": 20, "num_sgd_iter": 2,
               "rollout_fragment_length": 1000, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [4]},
                       "action_space": {"type": "discrete", "n": 2}}}
  })");
  j["results_dir"] = dir;
  return j;
}

std::vector<nlohmann::json> read_rows(const std::string& dir) { return test::read_result_rows(dir); }

std::vector<nlohmann::json> wait_rows(const std::string& dir, size_t n) {
  auto rows = read_rows(dir);
  for (int i = 0; i < 500 && rows.size() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    rows = read_rows(dir);
  }
  return rows;
}

const std::vector<float> kObs{0.02f, -0.01f, 0.03f, 0.01f};

// `len` steps of reward 1, the last one `bonus` more; returns the episode's return.
double run_episode(client::PolicyClient& c, bool evaluation, int len, float bonus,
                   const std::map<std::string, double>& custom = {}) {
  auto ep =
      c.start_episode(std::nullopt, /*training_enabled=*/!evaluation, /*explore=*/!evaluation);
  for (int i = 0; i < len; ++i) {
    c.get_action(ep, kObs);
    c.log_returns(ep, i == len - 1 ? 1.f + bonus : 1.f);
  }
  c.end_episode(ep, kObs, false, custom);
  return len + bonus;
}

}  // namespace

TEST_CASE("evaluation episodes act greedily, are never trained on, and are reported apart") {
  const std::string dir = "test_results/evaluation";
  std::filesystem::remove_all(dir);
  server::Server s(server::parse_server_config(config(dir)));
  s.start();
  client::PolicyClient c("ws://127.0.0.1:" + std::to_string(s.port()));

  // The greedy action of the current snapshot for kObs (Box obs preprocess to themselves).
  auto snap = s.context().policies.model(0);
  std::mt19937_64 rng(1);
  std::vector<algo::ActionResult> out;
  const std::vector<uint8_t> greedy{0};
  snap->compute_actions(kObs, 1, {}, greedy, rng, out);
  const int64_t argmax = out.at(0).discrete.at(0);
  const auto& logits = out.at(0).dist_inputs;
  REQUIRE(logits.size() == 2);
  CHECK(out[0].discrete[0] == (logits[1] > logits[0] ? 1 : 0));
  REQUIRE(std::abs(logits[0] - logits[1]) < 1.0f);  // near-uniform: sampling varies

  auto eval_ep = c.start_episode(std::nullopt, /*training_enabled=*/false, /*explore=*/false);
  auto explore_ep = c.start_episode();
  std::set<int64_t> eval_actions, explore_actions;
  for (int i = 0; i < 200; ++i) {
    eval_actions.insert(c.get_action(eval_ep, kObs).as_int());
    explore_actions.insert(c.get_action(explore_ep, kObs).as_int());
  }
  CHECK(eval_actions == std::set<int64_t>{argmax});
  CHECK(explore_actions == std::set<int64_t>{0, 1});
  CHECK(s.context().policies.model(0)->version() == snap->version());  // no training yet
  c.log_returns(eval_ep, 3.f);
  c.end_episode(eval_ep, kObs);
  c.flush();
  CHECK(s.context().samples.steps_pushed() == 0);  // nothing of the evaluation episode
  c.log_returns(explore_ep, 1.f);
  c.end_episode(explore_ep, kObs);  // 200 training steps: one iteration

  auto rows = wait_rows(dir, 1);
  REQUIRE(rows.size() == 1);
  // Serving is held while a full batch waits, so iteration 1 is exactly these 400 steps.
  CHECK(rows[0]["timesteps_total"] == 400);
  CHECK(rows[0]["num_steps_trained_this_iter"] == 200);
  CHECK(rows[0]["info"]["learner"]["p"]["num_steps_trained"] == 200);
  CHECK(rows[0]["evaluation"]["episode_reward_mean"].get<double>() == doctest::Approx(3.0));
  CHECK(rows[0]["evaluation"]["episodes_this_iter"] == 1);
  CHECK(rows[0]["evaluation"]["episode_len_mean"].get<double>() == doctest::Approx(200.0));
  CHECK(rows[0]["episode_reward_mean"].get<double>() == doctest::Approx(1.0));  // training only

  // Iteration 2: three evaluation episodes (returns 5, 8, 14) and 40 training steps.
  std::vector<double> returns;
  returns.push_back(run_episode(c, true, 5, 0.f));
  returns.push_back(run_episode(c, true, 4, 4.f));
  returns.push_back(run_episode(c, true, 10, 4.f));
  for (int e = 0; e < 4; ++e) run_episode(c, false, 10, 0.f);
  c.flush();
  rows = wait_rows(dir, 2);
  REQUIRE(rows.size() == 2);
  const auto& ev = rows[1]["evaluation"];
  CHECK(ev["episodes_this_iter"] == 3);
  CHECK(ev["episode_reward_mean"].get<double>() ==
        doctest::Approx((returns[0] + returns[1] + returns[2]) / 3));
  CHECK(ev["episode_reward_min"].get<double>() == doctest::Approx(5.0));
  CHECK(ev["episode_reward_max"].get<double>() == doctest::Approx(14.0));
  CHECK(ev["episode_len_mean"].get<double>() == doctest::Approx(19.0 / 3));
  CHECK(rows[1]["num_steps_trained_this_iter"] == 40);
  CHECK(rows[1]["timesteps_total"] == 400 + 19 + 40);
  CHECK(s.context().samples.steps_pushed() == 240);
  s.stop();
}

TEST_CASE("custom metrics aggregate to the mean, min and max of each iteration") {
  const std::string dir = "test_results/custom_metrics";
  std::filesystem::remove_all(dir);
  server::Server s(server::parse_server_config(config(dir)));
  s.start();
  client::PolicyClient c("ws://127.0.0.1:" + std::to_string(s.port()));
  // Iteration 1: "a" on every episode, "b" on two; an evaluation episode's metric goes
  // under evaluation only.
  run_episode(c, false, 10, 0.f, {{"a", 1}, {"b", -1}});
  run_episode(c, true, 3, 0.f, {{"a", 1000}, {"e", 2}});
  run_episode(c, false, 10, 0.f, {{"a", 2}});
  run_episode(c, false, 10, 0.f, {{"a", 3}, {"b", 5}});
  run_episode(c, false, 10, 0.f, {{"a", 10}});
  c.flush();
  auto rows = wait_rows(dir, 1);
  REQUIRE(rows.size() == 1);
  // Iteration 2 (after row 1, so the windows cannot mix): "a" = 4 everywhere; a NaN is ignored.
  for (int e = 0; e < 4; ++e)
    run_episode(c, false, 10, 0.f, {{"a", 4}, {"c", e == 3 ? std::nan("") : 6.0}});
  c.flush();
  rows = wait_rows(dir, 2);
  REQUIRE(rows.size() == 2);
  const auto& cm1 = rows[0]["custom_metrics"];
  CHECK(cm1.size() == 6);
  CHECK(cm1["a_mean"].get<double>() == doctest::Approx(4.0));
  CHECK(cm1["a_min"] == 1.0);
  CHECK(cm1["a_max"] == 10.0);
  CHECK(cm1["b_mean"].get<double>() == doctest::Approx(2.0));
  CHECK(cm1["b_min"] == -1.0);
  CHECK(cm1["b_max"] == 5.0);
  const auto& ecm = rows[0]["evaluation"]["custom_metrics"];
  CHECK(ecm["a_mean"] == 1000.0);
  CHECK(ecm["e_max"] == 2.0);
  const auto& cm2 = rows[1]["custom_metrics"];
  CHECK(cm2.size() == 6);
  CHECK(cm2["a_mean"] == 4.0);
  CHECK(cm2["a_min"] == 4.0);
  CHECK(cm2["a_max"] == 4.0);
  CHECK(cm2["c_mean"] == 6.0);
  CHECK_FALSE(cm2.contains("b_mean"));
  // progress.csv flattens them with '/'.
  std::ifstream csv(dir + "/progress.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header.find("custom_metrics/a_mean") != std::string::npos);
  s.stop();
}

TEST_CASE("a --no-train server keeps no samples and writes a result row per report interval") {
  const std::string dir = "test_results/no_train";
  std::filesystem::remove_all(dir);
  auto j = config(dir);
  j["report_interval_s"] = 0.2;
  j["checkpoint_at_end"] = true;  // still no checkpoint: nothing was trained
  auto cfg = server::parse_server_config(j);
  cfg.train = false;
  server::Server s(cfg);
  s.start();
  client::PolicyClient c("ws://127.0.0.1:" + std::to_string(s.port()));
  run_episode(c, true, 10, 2.f);
  run_episode(c, true, 10, 6.f);
  for (int e = 0; e < 5; ++e) run_episode(c, false, 20, 0.f);  // training_enabled, but no training
  c.flush();
  CHECK(s.context().samples.steps_pushed() == 0);
  CHECK(s.context().samples.steps_pending(0) == 0);
  // A report can fall between two episodes: wait for the row that has all 7 of them.
  std::vector<nlohmann::json> rows;
  for (int i = 0; i < 300; ++i) {
    rows = read_rows(dir);
    if (!rows.empty() && rows.back()["episodes_total"] == 7) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(!rows.empty());
  const auto& last = rows.back();
  CHECK(last["episodes_total"] == 7);
  CHECK(last["timesteps_total"] == 120);
  CHECK(last["training_iteration"] == 0);
  CHECK(last["episode_reward_mean"].get<double>() == doctest::Approx(20.0));  // smoothing window
  double eval_sum = 0;
  int64_t eval_n = 0, episodes = 0;
  for (const auto& r : rows) {
    CHECK(r["num_steps_trained_this_iter"] == 0);
    CHECK(r["episodes_this_iter"].get<int64_t>() > 0);
    episodes += r["episodes_this_iter"].get<int64_t>();
    if (r.contains("evaluation")) {
      eval_sum += r["evaluation"]["episode_reward_mean"].get<double>() *
                  r["evaluation"]["episodes_this_iter"].get<double>();
      eval_n += r["evaluation"]["episodes_this_iter"].get<int64_t>();
    }
  }
  CHECK(episodes == 7);
  CHECK(eval_n == 2);
  CHECK(eval_sum / static_cast<double>(eval_n) == doctest::Approx(14.0));
  // No episode ended: no row. One more: a row at the latest when the server stops.
  const size_t n = rows.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  CHECK(read_rows(dir).size() == n);
  run_episode(c, true, 4, 0.f);
  c.flush();
  s.stop();
  rows = read_rows(dir);
  REQUIRE(rows.size() == n + 1);
  CHECK(rows.back()["episodes_total"] == 8);
  CHECK(rows.back()["evaluation"]["episode_reward_mean"].get<double>() == doctest::Approx(4.0));
  CHECK(s.context().training_iteration == 0);
  for (const auto& e : std::filesystem::directory_iterator(dir))
    CHECK_MESSAGE(e.path().filename().string().rfind("checkpoint_", 0) != 0, e.path());
}
