// CRR (algorithms/torch/crr.cpp) on a fixed offline dataset: the actor moves toward the
// logged actions with the higher return; Discrete actions are refused.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "algorithms/policy.h"
#include "support/offline_rows.h"
#include "support/policy_specs.h"

using namespace tandem;
using namespace tandem::algo;

namespace {

// Mean greedy action of `model` over 100 fresh observations.
double mean_action(const InferenceModel& model) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> obs(200);
  for (auto& x : obs) x = u(rng);
  std::vector<ActionResult> out;
  model.compute_actions(obs, 100, {}, std::vector<uint8_t>(100, 0), rng, out);
  double m = 0;
  for (const auto& r : out) m += r.dist_inputs[0] / 100.0;
  return m;
}

}  // namespace

TEST_CASE("crr: the actor moves toward the better logged actions (bin and exp weights)") {
  // One-step episodes, actions uniform in [-1, 1], reward -(a - 0.5)^2: the best action is 0.5,
  // the logged actions' mean 0 (what behaviour cloning would learn).
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const auto rows = test::scripted_rows(500, 1, 2, 4, [&](const std::vector<float>&) {
    const float a = u(rng);
    return test::ScriptedStep{{}, {a}, -(a - 0.5f) * (a - 0.5f), std::log(0.5f)};
  });
  // exp weights: temperature 0.1 against advantages of a few tenths (1.0 barely prefers).
  for (const std::string weight_type : {"bin", "exp"}) {
    CAPTURE(weight_type);
    const std::string cfg = R"({"lr": 0.003, "critic_lr": 0.003, "train_batch_size": 500, "temperature": 0.1,
        "sgd_minibatch_size": 100, "tau": 0.05, "model": {"fcnet_hiddens": [32]}, "weight_type": ")" +
                            weight_type + "\"}";
    const auto spec = test::policy_spec("p", Space::box({2}), Space::box({1}, -1.f, 1.f), cfg.c_str());
    auto algo = make_algorithm("crr", spec, 9);
    REQUIRE(algo->trains_offline());
    const double before = mean_action(*algo->snapshot());
    TrainStats stats;
    for (int it = 0; it < 150; ++it) stats = algo->train_offline(rows, it * rows.count);
    const double after = mean_action(*algo->snapshot());
    MESSAGE(weight_type << ": mean action " << before << " -> " << after << ", critic_loss " << stats["critic_loss"]);
    for (const char* key : {"actor_loss", "critic_loss", "mean_td_target", "mean_advantage", "mean_weight", "grad_gnorm"}) {
      CAPTURE(key);
      REQUIRE(stats.count(key) == 1);
      CHECK(std::isfinite(stats[key]));
    }
    CHECK(std::abs(before) < 0.1);
    CHECK(after > 0.3);
    CHECK(after < 0.7);
  }
}

TEST_CASE("crr: Discrete actions are refused with a message") {
  const auto spec = test::policy_spec("p", Space::box({2}), Space::discrete(3));
  CHECK_THROWS_WITH_AS(make_algorithm("crr", spec, 1), doctest::Contains("Box actions only"), std::invalid_argument);
}
