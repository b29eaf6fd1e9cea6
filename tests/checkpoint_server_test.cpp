// Server checkpoints: written at the end of training, restored bit-for-bit with counters,
// refused when the configuration differs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "policy_client/policy_client.h"
#include "policy_server/server.h"
#include "policy_server/server_context.h"

using namespace tandem;

namespace {
nlohmann::json config(const std::string& dir, int hidden = 16) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 9, "keep_checkpoints_num": 2, "checkpoint_frequency": 1,
    "config": {"train_batch_size": 40, "sgd_minibatch_size": 20, "num_sgd_iter": 2},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 2}}}
  })");
  j["results_dir"] = dir;
  j["config"]["model"]["fcnet_hiddens"] = {hidden};
  return j;
}
}  // namespace

TEST_CASE("checkpoint at end, restore bit-for-bit, refuse a mismatched config") {
  const std::string dir = "test_results/checkpoint_server";
  std::filesystem::remove_all(dir);
  std::string weights;
  int64_t iters = 0, steps = 0;
  {
    server::Server s(server::parse_server_config(config(dir)));
    s.start();
    client::PolicyClient c("ws://127.0.0.1:" + std::to_string(s.port()));
    for (int e = 0; e < 12; ++e) {
      auto ep = c.start_episode();
      for (int i = 0; i < 10; ++i) {
        c.get_action(ep, std::vector<float>{0.1f * i, -0.1f});
        c.log_returns(ep, 1.f);
      }
      c.end_episode(ep, std::vector<float>{0, 0});
    }
    c.flush();
    for (int i = 0; i < 200 && s.context().training_iteration < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(s.context().training_iteration >= 3);
    s.stop();
    iters = s.context().training_iteration;
    steps = s.context().stats.timesteps_total();
    weights = s.context().policies.model(0)->serialize_weights();
  }
  char name[32];
  std::snprintf(name, sizeof name, "checkpoint_%06lld", static_cast<long long>(iters));
  const std::string ckpt = dir + "/" + name;
  REQUIRE(std::filesystem::exists(ckpt + "/state.json"));
  REQUIRE(std::filesystem::exists(ckpt + "/p.pt"));
  int n_ckpt = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("checkpoint_", 0) == 0) ++n_ckpt;
  CHECK(n_ckpt == 2);  // keep_checkpoints_num

  std::filesystem::remove_all(dir + "_restored");
  auto cfg = server::parse_server_config(config(dir + "_restored"));
  cfg.restore = ckpt;
  server::Server r(cfg);
  CHECK(r.context().training_iteration == iters);
  CHECK(r.context().stats.timesteps_total() == steps);
  CHECK(r.context().policies.model(0)->serialize_weights() == weights);
  const double time_saved = r.context().time_total_s.load();
  CHECK(time_saved > 0);
  {
    // Training goes on from there: iteration, time_total_s and the step rate continue.
    r.start();
    client::PolicyClient c("ws://127.0.0.1:" + std::to_string(r.port()));
    for (int e = 0; e < 4; ++e) {
      auto ep = c.start_episode();
      for (int i = 0; i < 10; ++i) {
        c.get_action(ep, std::vector<float>{0.1f * i, -0.1f});
        c.log_returns(ep, 1.f);
      }
      c.end_episode(ep, std::vector<float>{0, 0});
    }
    c.flush();
    for (int i = 0; i < 300 && r.context().training_iteration == iters; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r.stop();
    std::ifstream in(dir + "_restored/result.json");
    std::string line;
    REQUIRE(std::getline(in, line));
    auto row = nlohmann::json::parse(line);
    CHECK(row["training_iteration"] == iters + 1);
    CHECK(row["timesteps_total"] == steps + 40);
    CHECK(row["time_total_s"].get<double>() > time_saved);
    // 40 steps were served in this iteration, not steps + 40.
    CHECK(row["env_steps_per_s"].get<double>() * row["time_this_iter_s"].get<double>() ==
          doctest::Approx(40.0));
  }

  auto bad = server::parse_server_config(config(dir + "_bad", /*hidden=*/32));
  bad.restore = ckpt;
  CHECK_THROWS_WITH(server::Server{bad}, doctest::Contains("model differs"));
}
