// A tandem-server process with `input` (offline training, docs/OFFLINE.md): trains MARWIL from
// a JSON lines file with no simulator, writes result rows with the offline fields, serves
// actions meanwhile, checkpoints, stops on its criteria with exit 0; bad input stops it at
// start with exit 2 and a message.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "policy_client/policy_client.h"
#include "support/offline_rows.h"
#include "support/result_rows.h"
#include "support/server_process.h"

using namespace tandem;

namespace {

// 60 episodes of 10 steps of a behaviour that always picks action 2 (logp log 0.7), one line
// per two episodes.
std::string write_dataset(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const auto rows = test::scripted_rows(60, 10, 3, 11, [](const std::vector<float>&) {
    return test::ScriptedStep{{2}, {}, 1.f, std::log(0.7f)};
  });
  const std::string path = dir + "/data.jsonl";
  std::ofstream f(path, std::ios::trunc);
  for (int64_t b = 0; b < rows.count; b += 20) f << test::offline_json_line(rows, b, b + 20, "p") << '\n';
  return path;
}

nlohmann::json offline_config(const std::string& input, const std::string& results_dir) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "marwil", "seed": 3, "checkpoint_frequency": 2,
    "config": {"beta": 0, "lr": 0.01, "train_batch_size": 100, "sgd_minibatch_size": 50,
               "model": {"fcnet_hiddens": [32]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [3]},
                       "action_space": {"type": "discrete", "n": 4}}},
    "stop": {"training_iteration": 40}
  })");
  j["input"] = input;
  j["results_dir"] = results_dir;
  return j;
}

bool exited_by_itself(pid_t pid) {  // a zombie: it exited, nobody reaped it yet
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(stat, s);
  const auto close = s.rfind(')');
  return close != std::string::npos && s.size() > close + 2 && s[close + 2] == 'Z';
}

// Runs tandem-server with `config` to its end; returns the exit code, fills `err` with stderr.
int run_to_exit(const nlohmann::json& config, const std::string& dir, std::string& err) {
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/bad_config.json") << config.dump(); }
  const std::string cmd = test::ServerProcess::binary() + " -c " + dir + "/bad_config.json --port 0 > " + dir +
                          "/bad.out 2> " + dir + "/bad.err";
  const int st = std::system(cmd.c_str());
  err = test::file_tail(dir + "/bad.err");
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST_CASE("offline server: trains from input, serves, writes rows, checkpoints, stops with exit 0") {
  const std::string data_dir = test::results_path("offline_server_data");
  const std::string input = write_dataset(data_dir);
  const std::string results = test::results_path("offline_server") + "/results";
  test::ServerProcess server(offline_config(input, results), "offline_server");
  REQUIRE_MESSAGE(test::eventually([&] { return exited_by_itself(server.pid()); }, 30),
                  test::file_tail(server.stderr_path()));
  CHECK(server.stop() == 0);
  const auto rows = test::read_result_rows(results);
  REQUIRE(rows.size() == 40);
  const auto& first = rows.front();
  const auto& last = rows.back();
  CHECK(last["training_iteration"] == 40);
  CHECK(last["timesteps_total"].get<int64_t>() == 40 * 100);  // whole 10-step episodes, 100 rows a batch
  CHECK(last["num_steps_trained_this_iter"] == 100);
  CHECK(last["samples_per_s"].get<double>() > 0);
  CHECK(last["time_total_s"].get<double>() > 0);
  const auto& learner = last["info"]["learner"]["p"];
  for (const char* k : {"policy_loss", "imitation_loss", "vf_loss", "total_loss", "moving_average_sqd_adv_norm",
                        "cur_lr", "grad_gnorm"}) {
    CAPTURE(k);
    REQUIRE(learner.contains(k));
  }
  CHECK(learner["imitation_loss"].get<double>() < 0.5 * first["info"]["learner"]["p"]["imitation_loss"].get<double>());
  const auto& wis = last["off_policy_estimation"]["wis"];
  REQUIRE(wis.is_object());
  // Every behaviour return is 10 steps of reward 1, so whatever the ratios, the weighted
  // estimate (a weighted mean of equal returns) is the same: gain 1.
  CHECK(wis["v_behavior"].get<double>() == doctest::Approx((1 - std::pow(0.99, 10)) / 0.01).epsilon(1e-4));
  CHECK(wis["v_gain"].get<double>() == doctest::Approx(1.0).epsilon(0.05));
  CHECK(wis["episodes"] == 10);
  CHECK(std::filesystem::exists(results + "/checkpoint_000040/p.pt"));  // at the end
  CHECK(std::filesystem::exists(results + "/checkpoint_000020/p.pt"));  // checkpoint_frequency 2
  const auto state = nlohmann::json::parse(std::ifstream(results + "/checkpoint_000040/state.json"));
  CHECK(state["offline_rows_total"] == 4000);
}

TEST_CASE("offline server: serves greedy actions while it trains; SIGTERM stops it with a checkpoint") {
  const std::string input = write_dataset(test::results_path("offline_server_serving_data"));
  const std::string results = test::results_path("offline_server_serving") + "/results";
  auto cfg = offline_config(input, results);
  cfg.erase("stop");  // trains until stopped
  cfg["checkpoint_frequency"] = 0;
  test::ServerProcess server(cfg, "offline_server_serving");
  client::PolicyClient c(server.address());
  const auto ep = c.start_episode(std::nullopt, /*training_enabled=*/false, /*explore=*/false);
  const std::vector<float> obs{0.1f, -0.2f, 0.3f};
  REQUIRE_MESSAGE(test::eventually([&] { return test::read_result_rows(results).size() >= 60; }, 20),
                  test::file_tail(server.stderr_path()));
  CHECK(c.get_action(ep, obs).as_int() == 2);  // the newest weights, cloned
  CHECK(server.stop() == 0);
  const auto rows = test::read_result_rows(results);
  char name[32];
  std::snprintf(name, sizeof name, "/checkpoint_%06d/p.pt", static_cast<int>(rows.size()));
  CHECK(std::filesystem::exists(results + name));
}

TEST_CASE("offline server: rows without action_logp train but get no estimate") {
  const std::string dir = test::results_path("offline_server_nologp");
  std::filesystem::create_directories(dir);
  auto rows = test::scripted_rows(10, 10, 3, 12, [](const std::vector<float>&) {
    return test::ScriptedStep{{1}, {}, 1.f, 0.f};
  });
  rows.action_logp.clear();
  { std::ofstream(dir + "/data.jsonl") << test::offline_json_line(rows, 0, rows.count, "") << '\n'; }
  auto cfg = offline_config(dir + "/*.jsonl", dir + "/results");  // a glob
  cfg["stop"] = {{"timesteps_total", 250}};
  test::ServerProcess server(cfg, "offline_server_nologp_run");
  REQUIRE(test::eventually([&] { return exited_by_itself(server.pid()); }, 30));
  CHECK(server.stop() == 0);
  const auto result = test::read_result_rows(dir + "/results");
  REQUIRE(result.size() == 3);  // 100 rows an iteration until >= 250
  CHECK(result.back()["off_policy_estimation"]["wis"].is_null());
  CHECK(result.back()["off_policy_estimation"]["skipped"].is_string());
}

TEST_CASE("offline server: a missing input or a garbled line stops the start with exit 2") {
  const std::string dir = test::results_path("offline_server_bad");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string err;
  CHECK(run_to_exit(offline_config(dir + "/nothing_here.jsonl", dir + "/r1"), dir, err) == 2);
  CHECK(err.find("nothing_here.jsonl") != std::string::npos);

  const std::string input = write_dataset(dir);
  { std::ofstream(input, std::ios::app) << "{\"obs\": [[1, 2, 3]], \"actions\": [7], \"rewards\": [0]}\n"; }
  CHECK(run_to_exit(offline_config(input, dir + "/r2"), dir, err) == 2);
  CHECK(err.find("31") != std::string::npos);  // 30 good lines, then this one (its number)
  CHECK(err.find("data.jsonl") != std::string::npos);

  auto ppo = offline_config(write_dataset(dir + "/ok"), dir + "/r3");
  ppo["algorithm"] = "ppo";
  CHECK(run_to_exit(ppo, dir, err) == 2);
  CHECK(err.find("does not train from offline data") != std::string::npos);
}
