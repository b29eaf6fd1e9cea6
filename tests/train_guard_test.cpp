// The learner's guard (algorithms/torch/train_guard.h): a batch with non-finite or absurd
// values is skipped whole; an SGD step that leaves the weights non-finite or absurd is
// rolled back to the iteration's starting weights; both are counted and described. PPO and
// A2C alike; a healthy batch still trains.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "algorithms/policy.h"
#include "support/policy_specs.h"

using namespace tandem::algo;

namespace {

PolicySpec spec_with(const char* overrides) {
  return tandem::test::policy_spec("guarded", Space::box({3}), Space::discrete(2), overrides);
}

// `n` steps from the model itself (a proper on-policy batch), rewards `reward`.
SampleBatch batch_of(const Algorithm& algo, int n, float reward, uint64_t seed = 1) {
  const auto& c = algo.spec().config;
  auto model = algo.snapshot();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  Trajectory t;
  t.obs_dim = 3;
  std::vector<ActionResult> out;
  for (int i = 0; i < n; ++i) {
    const std::vector<float> obs{g(rng), g(rng), g(rng)};
    model->compute_actions(obs, 1, {}, {}, rng, out);
    t.obs.insert(t.obs.end(), obs.begin(), obs.end());
    t.actions.push_back(out[0].discrete[0]);
    t.action_logp.push_back(out[0].logp);
    t.vf_preds.push_back(out[0].vf_pred);
    t.dist_inputs.insert(t.dist_inputs.end(), out[0].dist_inputs.begin(), out[0].dist_inputs.end());
    t.rewards.push_back(reward);
  }
  t.terminated = true;
  SampleBatch b;
  b.append(t, c.gamma, c.lambda_, c.use_gae, c.use_critic);
  return b;
}

// The greedy outputs of the published model on fixed observations.
std::vector<float> outputs(const Algorithm& algo) {
  std::vector<float> obs{0.3f, -1.f, 2.f, 1.f, 0.f, -0.5f};
  std::vector<ActionResult> out;
  std::mt19937_64 rng(3);
  const std::vector<uint8_t> greedy{0, 0};
  algo.snapshot()->compute_actions(obs, 2, {}, greedy, rng, out);
  std::vector<float> v;
  for (const auto& r : out) {
    v.insert(v.end(), r.dist_inputs.begin(), r.dist_inputs.end());
    v.push_back(r.vf_pred);
  }
  return v;
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

TEST_CASE("train guard: a batch with a non-finite or absurd value is skipped, weights untouched") {
  for (const char* name : {"ppo", "a2c"}) {
    CAPTURE(name);
    auto algo = make_algorithm(name, spec_with(R"({"sgd_minibatch_size": 16, "num_sgd_iter": 2})"), 7);
    const auto before = outputs(*algo);
    auto b = batch_of(*algo, 32, 1.f);
    b.obs[5] = std::numeric_limits<float>::quiet_NaN();
    auto stats = algo->train(b, 0);
    CHECK(stats["num_bad_batches_skipped"] == 1);
    CHECK(stats["num_sgd_steps"] == 0);
    auto problems = algo->take_problems();
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("obs has a non-finite value") != std::string::npos);
    b = batch_of(*algo, 32, 1.f);
    b.value_targets[0] = 1e20f;  // finite, absurd
    CHECK(algo->train(b, 0)["num_bad_batches_skipped"] == 1);
    CHECK(algo->take_problems().at(0).find("value_targets") != std::string::npos);
    CHECK(outputs(*algo) == before);
    // A healthy batch still trains.
    stats = algo->train(batch_of(*algo, 32, 1.f), 0);
    CHECK(stats["num_bad_batches_skipped"] == 0);
    CHECK(stats["num_bad_sgd_steps_skipped"] == 0);
    CHECK(stats["num_sgd_steps"] >= 1);
    CHECK(outputs(*algo) != before);
    CHECK(algo->take_problems().empty());
  }
}

TEST_CASE("train guard: a step that blows the weights up is rolled back") {
  // lr 1e12: one Adam step moves every weight by ~1e12, beyond kMaxAbsWeight.
  for (const char* name : {"ppo", "a2c"}) {
    CAPTURE(name);
    auto algo = make_algorithm(name, spec_with(R"({"lr": 1e12, "sgd_minibatch_size": 16, "num_sgd_iter": 3})"), 7);
    const auto before = outputs(*algo);
    auto stats = algo->train(batch_of(*algo, 32, 1.f), 0);
    CHECK(stats["num_bad_sgd_steps_skipped"] >= 1);
    const auto problems = algo->take_problems();
    REQUIRE_FALSE(problems.empty());
    CHECK(problems.back().find("rolled back") != std::string::npos);
    const auto after = outputs(*algo);
    CHECK(all_finite(after));
    CHECK(after == before);  // back to the iteration's starting weights
    // Training goes on from there (the optimizer state was reset, not poisoned).
    stats = algo->train(batch_of(*algo, 32, 1.f), 0);
    CHECK(all_finite(outputs(*algo)));
  }
}
