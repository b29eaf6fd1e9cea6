// The policy table: a policy can be served without being trained (policies_to_train), its
// weights survive a checkpoint, and a frozen policy cannot be restored as a trained one.
// Real server processes.
#include <doctest/doctest.h>

#include <filesystem>
#include <thread>

#include "core/messages.h"
#include "policy_client/policy_client.h"
#include "support/raw_client.h"
#include "support/server_process.h"

using namespace tandem;

namespace {
nlohmann::json two_policies(const std::string& name) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 5, "checkpoint_at_end": true,
    "config": {"train_batch_size": 40, "sgd_minibatch_size": 20, "num_sgd_iter": 2,
               "rollout_fragment_length": 20, "model": {"fcnet_hiddens": [8]}},
    "policies": {"learner": {"observation_space": {"type": "box", "shape": [2]},
                             "action_space": {"type": "discrete", "n": 2}},
                 "frozen": {"observation_space": {"type": "box", "shape": [2]},
                            "action_space": {"type": "discrete", "n": 2}}},
    "policy_mapping": {"agent1": "learner", "agent2": "frozen"},
    "policies_to_train": ["learner"]
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  return j;
}

core::Weights weights_of(uint16_t port, const std::string& policy) {
  test::RawClient c(port);
  auto r = c.call(1, core::GetWeights{policy, -1});
  REQUIRE(std::holds_alternative<core::Weights>(r));
  return std::get<core::Weights>(r);
}

void play(const std::string& address, int episodes) {
  client::PolicyClient c(address);
  for (int e = 0; e < episodes; ++e) {
    auto ep = c.start_episode();
    for (int t = 0; t < 10; ++t) {
      c.get_action(ep, client::AgentObs{{"agent1", {0.1f * t, 0.f}}, {"agent2", {0.f, 0.1f * t}}});
      c.log_returns(ep, {{"agent1", 1.f}, {"agent2", -1.f}});
    }
    c.end_episode(ep, client::AgentObs{{"agent1", {0, 0}}, {"agent2", {0, 0}}});
  }
  c.flush();
}
}  // namespace

TEST_CASE("a policy outside policies_to_train is served with fixed weights and never trained") {
  const std::string name = "policy_table_frozen";
  auto cfg = two_policies(name);
  std::string ckpt;
  core::Weights frozen_before;
  {
    test::ServerProcess s(cfg, name);
    frozen_before = weights_of(s.port(), "frozen");
    const auto learner_before = weights_of(s.port(), "learner");
    play(s.address(), 12);
    REQUIRE(test::eventually([&] { return s.metric("tandem_training_iteration") >= 2; }));
    const auto learner_after = weights_of(s.port(), "learner");
    const auto frozen_after = weights_of(s.port(), "frozen");
    CHECK(learner_after.version > learner_before.version);
    CHECK(learner_after.tensors != learner_before.tensors);
    CHECK(frozen_after.version == frozen_before.version);
    CHECK(frozen_after.tensors == frozen_before.tensors);
    CHECK(s.metric("tandem_learner_errors_total") == 0);
    CHECK(s.stop() == 0);
    for (const auto& e : std::filesystem::directory_iterator(cfg["results_dir"].get<std::string>()))
      if (e.path().filename().string().rfind("checkpoint_", 0) == 0) ckpt = e.path().string();
  }
  REQUIRE(!ckpt.empty());
  CHECK(std::filesystem::exists(ckpt + "/learner.pt"));
  CHECK(std::filesystem::exists(ckpt + "/frozen.weights"));
  {
    // Restored: the frozen policy serves the same weights.
    test::ServerProcess s(two_policies(name + "_restored"), name + "_restored", {"--restore", ckpt});
    const auto w = weights_of(s.port(), "frozen");
    CHECK(w.tensors == frozen_before.tensors);
    CHECK(w.version == frozen_before.version);
  }
  {
    // Asked to train the policy that was frozen in the checkpoint: refused at start.
    auto all = two_policies(name + "_refused");
    all["policies_to_train"] = {"learner", "frozen"};
    std::filesystem::create_directories(test::results_path(name + "_refused"));
    const std::string path = test::results_path(name + "_refused") + "/cfg.json";
    std::ofstream(path) << all.dump();
    const std::string cmd = test::ServerProcess::binary() + " -c " + path + " --port 0 --restore " + ckpt +
                            " > " + path + ".out 2>&1";
    const int rc = std::system(cmd.c_str());
    CHECK(WEXITSTATUS(rc) == 2);
    std::ifstream in(path + ".out");
    const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(out.find("can only be served frozen") != std::string::npos);
  }
}

TEST_CASE("policies_to_train naming an unknown policy is refused with the key named") {
  const std::string name = "policy_table_bad";
  auto cfg = two_policies(name);
  cfg["policies_to_train"] = {"nobody"};
  std::filesystem::create_directories(test::results_path(name));
  const std::string path = test::results_path(name) + "/cfg.json";
  std::ofstream(path) << cfg.dump();
  const int rc = std::system((test::ServerProcess::binary() + " -c " + path + " > " + path + ".out 2>&1").c_str());
  CHECK(WEXITSTATUS(rc) == 2);
  std::ifstream in(path + ".out");
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(out.find("policies_to_train") != std::string::npos);
}
