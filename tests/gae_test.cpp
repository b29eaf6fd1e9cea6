#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "algorithms/sample_batch.h"

using namespace tandem::algo;

namespace {

void check_close(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  }
}

// rewards [1, 2, 3], V = [0.5, 1.0, 1.5], gamma 0.9, lambda 0.8 (gamma * lambda = 0.72).
const std::vector<float> kRewards{1.f, 2.f, 3.f};
const std::vector<float> kValues{0.5f, 1.0f, 1.5f};

}  // namespace

TEST_CASE("gae: terminated 3-step trajectory, by hand") {
  // delta = [1 + .9*1 - .5, 2 + .9*1.5 - 1, 3 + 0 - 1.5] = [1.4, 2.35, 1.5]
  // A2 = 1.5; A1 = 2.35 + .72*1.5 = 3.43; A0 = 1.4 + .72*3.43 = 3.8696
  std::vector<float> adv, targets;
  compute_gae(kRewards, kValues, /*bootstrap_value=*/123.f, /*terminated=*/true, 0.9, 0.8, adv,
              targets);
  check_close(adv, {3.8696, 3.43, 1.5});
  check_close(targets, {4.3696, 4.43, 3.0});
}

TEST_CASE("gae: bootstrapped 3-step trajectory, by hand") {
  // V(s_3) = 2: delta2 = 3 + .9*2 - 1.5 = 3.3; A1 = 2.35 + .72*3.3 = 4.726;
  // A0 = 1.4 + .72*4.726 = 4.80272
  std::vector<float> adv, targets;
  compute_gae(kRewards, kValues, /*bootstrap_value=*/2.f, /*terminated=*/false, 0.9, 0.8, adv,
              targets);
  check_close(adv, {4.80272, 4.726, 3.3});
  check_close(targets, {5.30272, 5.726, 4.8});
}

TEST_CASE("gae: lambda = 1 equals discounted returns minus values") {
  for (bool terminated : {true, false}) {
    CAPTURE(terminated);
    std::vector<float> adv, targets, returns;
    compute_gae(kRewards, kValues, 2.f, terminated, 0.9, 1.0, adv, targets);
    compute_discounted_returns(kRewards, 2.f, terminated, 0.9, returns);
    // returns (terminated) = [1 + .9*2 + .81*3, 2 + .9*3, 3] = [5.23, 4.7, 3]
    if (terminated)
      check_close(returns, {5.23, 4.7, 3.0});
    else
      check_close(returns, {5.23 + 0.729 * 2, 4.7 + 0.81 * 2, 3.0 + 0.9 * 2});
    for (size_t i = 0; i < 3; ++i) {
      CHECK(adv[i] == doctest::Approx(returns[i] - kValues[i]).epsilon(1e-6));
      CHECK(targets[i] == doctest::Approx(returns[i]).epsilon(1e-6));
    }
  }
}

TEST_CASE("gae: lambda = 0 is the one-step TD error") {
  std::vector<float> adv, targets;
  compute_gae(kRewards, kValues, 2.f, false, 0.9, 0.0, adv, targets);
  check_close(adv, {1.4, 2.35, 3.3});
}

TEST_CASE("sample batch: append concatenates and postprocesses") {
  Trajectory t;
  t.obs_dim = 2;
  t.obs = {0, 1, 2, 3, 4, 5};
  t.actions = {0, 1, 0};
  t.action_logp = {-0.1f, -0.2f, -0.3f};
  t.vf_preds = kValues;
  t.dist_inputs = {0, 0, 0, 0, 0, 0};
  t.rewards = kRewards;
  t.terminated = true;

  SampleBatch b;
  b.append(t, 0.9, 0.8, /*use_gae=*/true, /*use_critic=*/true);
  b.append(t, 0.9, 0.8, true, true);
  CHECK(b.count == 6);
  CHECK(b.obs_dim == 2);
  CHECK(b.obs.size() == 12);
  CHECK(b.actions.size() == 6);
  check_close(b.advantages, {3.8696, 3.43, 1.5, 3.8696, 3.43, 1.5});

  SUBCASE("no GAE: advantages = returns - V, targets = returns") {
    SampleBatch nb;
    nb.append(t, 0.9, 0.8, /*use_gae=*/false, /*use_critic=*/true);
    check_close(nb.advantages, {5.23 - 0.5, 4.7 - 1.0, 3.0 - 1.5});
    check_close(nb.value_targets, {5.23, 4.7, 3.0});
  }
  SUBCASE("no critic: advantages = returns") {
    SampleBatch nb;
    nb.append(t, 0.9, 0.8, /*use_gae=*/false, /*use_critic=*/false);
    check_close(nb.advantages, {5.23, 4.7, 3.0});
  }
  SUBCASE("inconsistent trajectories are rejected") {
    Trajectory bad = t;
    bad.rewards.pop_back();
    CHECK_THROWS_AS(b.append(bad, 0.9, 0.8, true, true), std::invalid_argument);
    bad = t;
    bad.obs_dim = 3;
    bad.obs = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_THROWS_AS(b.append(bad, 0.9, 0.8, true, true), std::invalid_argument);
    bad = t;
    bad.dist_inputs.push_back(0.f);
    CHECK_THROWS_AS(b.append(bad, 0.9, 0.8, true, true), std::invalid_argument);
    CHECK(b.count == 6);  // untouched
  }
}
