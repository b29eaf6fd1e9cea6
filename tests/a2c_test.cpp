#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <vector>

#include "algorithms/policy.h"

using namespace tandem::algo;

namespace {

constexpr int kArms = 4;

PolicySpec a2c_bandit_spec(const char* overrides) {
  PolicySpec spec;
  spec.policy_id = "bandit";
  spec.observation_space = Space::box({kArms});
  spec.action_space = Space::discrete(kArms);
  spec.config.merge_json(nlohmann::json::parse(overrides));
  return spec;
}

// Contextual bandit (see ppo_test.cpp): reward 1 iff action == context; returns the mean.
double a2c_collect(const InferenceModel& model, const PolicySpec& spec, int steps,
                   std::mt19937_64& rng, SampleBatch& batch, const std::vector<float>& mask = {}) {
  const auto& c = spec.config;
  std::vector<ActionResult> out;
  const std::vector<uint8_t> explore{1};
  double total = 0;
  for (int i = 0; i < steps; ++i) {
    const int ctx = static_cast<int>(rng() % kArms);
    std::vector<float> obs(kArms, 0.f);
    obs[ctx] = 1.f;
    model.compute_actions(obs, 1, mask, explore, rng, out);
    const auto& r = out[0];
    const float reward = r.discrete[0] == ctx ? 1.f : 0.f;
    total += reward;
    Trajectory t;
    t.obs_dim = kArms;
    t.obs = obs;
    t.actions = r.discrete;
    t.action_logp = {r.logp};
    t.vf_preds = {r.vf_pred};
    t.dist_inputs = r.dist_inputs;
    t.rewards = {reward};
    t.terminated = true;
    batch.append(t, c.gamma, c.lambda_, c.use_gae, c.use_critic);
  }
  return total / steps;
}

void learn_bandit(const char* overrides, uint64_t seed) {
  const auto spec = a2c_bandit_spec(overrides);
  auto algo = make_algorithm("a2c", spec, seed);
  CHECK(algo->name() == "a2c");
  std::mt19937_64 rng(seed + 100);
  TrainStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  const int iters = 150;
  for (int it = 0; it < iters; ++it) {
    SampleBatch batch;
    a2c_collect(*algo->snapshot(), spec, 64, rng, batch);
    stats = algo->train(batch, (it + 1) * 64);
  }
  // The last batches: average a few for a steadier estimate of the sampling policy.
  double recent = 0;
  for (int k = 0; k < 4; ++k) {
    SampleBatch batch;
    recent += a2c_collect(*algo->snapshot(), spec, 64, rng, batch) / 4;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("a2c bandit: " << iters << " iterations in " << secs << " s, reward " << recent);
  CHECK(algo->snapshot()->version() == iters);
  for (const char* key :
       {"policy_loss", "vf_loss", "entropy", "cur_lr", "grad_gnorm", "vf_explained_var"}) {
    CAPTURE(key);
    REQUIRE(stats.count(key) == 1);
    CHECK(std::isfinite(stats[key]));
  }
  std::vector<ActionResult> out;
  const std::vector<uint8_t> greedy{0};
  for (int ctx = 0; ctx < kArms; ++ctx) {
    std::vector<float> obs(kArms, 0.f);
    obs[ctx] = 1.f;
    algo->snapshot()->compute_actions(obs, 1, {}, greedy, rng, out);
    CHECK(out[0].discrete[0] == ctx);
  }
  CHECK(recent > 0.9);
}

}  // namespace

TEST_CASE("a2c: learns a contextual bandit (adam)") {
  learn_bandit(R"({"lr": 5e-3, "train_batch_size": 64, "sgd_minibatch_size": 64,
                   "grad_clip": 40, "model": {"fcnet_hiddens": [32, 32]}})",
               21);
}

TEST_CASE("a2c: learns a contextual bandit (rmsprop, n-step returns)") {
  learn_bandit(R"({"lr": 5e-3, "optimizer": "rmsprop", "use_gae": false, "lambda": 1.0,
                   "train_batch_size": 64, "sgd_minibatch_size": 64,
                   "model": {"fcnet_hiddens": [32, 32]}})",
               22);
}

TEST_CASE("a2c: masked actions are never sampled") {
  const auto spec = a2c_bandit_spec(R"({"lr": 5e-3, "train_batch_size": 64,
      "sgd_minibatch_size": 64, "model": {"fcnet_hiddens": [16]}})");
  auto algo = make_algorithm("a2c", spec, 4);
  std::mt19937_64 rng(5);
  const std::vector<float> mask{1, 0, 0, 1};
  for (int it = 0; it < 10; ++it) {
    SampleBatch batch;
    a2c_collect(*algo->snapshot(), spec, 64, rng, batch, mask);
    std::set<int64_t> seen(batch.actions.begin(), batch.actions.end());
    for (int64_t a : seen) CHECK((a == 0 || a == 3));
    const auto stats = algo->train(batch, 0);
    CHECK(std::isfinite(stats.at("policy_loss")));
    CHECK(std::isfinite(stats.at("entropy")));
  }
}
