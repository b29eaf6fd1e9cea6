// Sampling overlapped with learning, bounded: while the learner trains on batch k, serving
// collects batch k+1, but at most `sample_ahead_steps` training steps of it (default: one
// train batch), then holds its replies until the learner is done. A real tandem-server
// process with a learner far slower than the simulator; one vectorised client thread
// drives 8 CartPoles; the learner's rows (result.json) say how many steps were collected
// while each batch trained.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "policy_client/vector_env_runner.h"
#include "sims/cartpole.h"
#include "support/requests.h"
#include "support/result_rows.h"
#include "support/server_process.h"

using namespace tandem;

namespace {

constexpr int kEnvs = 8;
constexpr int64_t kBatch = 128;

nlohmann::json slow_learner_config(const std::string& name) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 2,
    "config": {"train_batch_size": 128, "sgd_minibatch_size": 64, "num_sgd_iter": 20,
               "rollout_fragment_length": 16, "model": {"fcnet_hiddens": [256, 256]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [4]},
                       "action_space": {"type": "discrete", "n": 2}}}
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  return j;
}

using test::read_result_rows;

struct Run {
  std::vector<int64_t> collected_while_training;  // per training iteration (SampleQueue's count)
  std::vector<int64_t> env_steps_while_training;  // the same period by RunStats' env steps
  double holds = 0;
};

// Steps 8 CartPoles until the learner has written `iterations` rows.
Run run(const std::string& name, nlohmann::json config, size_t iterations) {
  const std::string dir = config["results_dir"].get<std::string>();
  test::ServerProcess server(config, name);  // trains
  client::PolicyClient c(server.address(), client::InferenceMode::Remote, test::client_options(1));
  std::vector<std::unique_ptr<sims::MultiAgentEnv>> envs;
  for (int i = 0; i < kEnvs; ++i) envs.push_back(std::make_unique<sims::CartPoleMultiAgent>(100 + i));
  client::VectorEnvRunner runner(c, std::move(envs));
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_result_rows(dir).size() < iterations && std::chrono::steady_clock::now() < end)
    for (int k = 0; k < 50; ++k) runner.step();
  runner.finish();
  Run r;
  r.holds = server.metric("tandem_backpressure_holds_total");
  CHECK(server.stop() == 0);
  for (const auto& row : read_result_rows(dir)) {
    r.collected_while_training.push_back(
        row.at("info").at("learner").at("p").at("steps_collected_while_training").get<int64_t>());
    r.env_steps_while_training.push_back(row.at("env_steps_while_training").get<int64_t>());
  }
  REQUIRE(r.collected_while_training.size() >= iterations);
  return r;
}

}  // namespace

TEST_CASE("while the learner trains, serving collects at most one batch ahead, then waits") {
  const auto r = run("sample_ahead_batch", slow_learner_config("sample_ahead_batch"), 6);
  int64_t most = 0;
  for (size_t i = 0; i < r.collected_while_training.size(); ++i) {
    CAPTURE(i);
    // One frame's GetActions (kEnvs) may be in the flush that crosses the bound. The second
    // count is independent of the one the bound is enforced with (it may also see the
    // frame that was being answered as serving resumed).
    CHECK(r.collected_while_training[i] <= kBatch + kEnvs);
    CHECK(r.env_steps_while_training[i] <= kBatch + 2 * kEnvs);
    most = std::max(most, r.env_steps_while_training[i]);
  }
  MESSAGE("most steps collected while one batch trained: " << most << " (bound " << kBatch << ")");
  // The overlap is real: serving went on while the learner trained, up to the bound.
  CHECK(most >= kBatch);
  CHECK(r.holds > 0);
}

TEST_CASE("sample_ahead_steps 0: serving pauses while the learner trains") {
  auto config = slow_learner_config("sample_ahead_none");
  config["sample_ahead_steps"] = 0;
  const auto r = run("sample_ahead_none", config, 6);
  for (size_t i = 0; i < r.collected_while_training.size(); ++i) {
    CAPTURE(i);
    CHECK(r.collected_while_training[i] <= kEnvs);  // at most the flush that was under way
    CHECK(r.env_steps_while_training[i] <= 2 * kEnvs);
  }
  CHECK(r.holds > 0);
}
