// MARWIL (algorithms/torch/marwil.cpp) on fixed offline datasets of scripted behaviours,
// the episode pieces of offline rows, and the weighted importance sampling estimate.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "algorithms/off_policy_estimate.h"
#include "algorithms/offline_rows.h"
#include "algorithms/policy.h"
#include "support/offline_rows.h"
#include "support/policy_specs.h"

using namespace tandem;
using namespace tandem::algo;

namespace {

// Greedy actions (and distribution inputs) of `model` on `n` fresh observations.
std::vector<ActionResult> greedy(const InferenceModel& model, int64_t obs_dim, int n, uint64_t seed,
                                 std::vector<float>& obs) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  obs.resize(static_cast<size_t>(n * obs_dim));
  for (auto& x : obs) x = u(rng);
  std::vector<ActionResult> out;
  model.compute_actions(obs, n, {}, std::vector<uint8_t>(static_cast<size_t>(n), 0), rng, out);
  return out;
}

double softmax_p(const std::vector<float>& logits, size_t k) {
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  return std::exp(static_cast<double>(logits[k])) / z;
}

}  // namespace

TEST_CASE("marwil beta=0 clones a discrete behaviour (always action 2)") {
  const auto spec = test::policy_spec("p", Space::box({3}), Space::discrete(4),
                                      R"({"beta": 0, "lr": 0.01, "train_batch_size": 400, "sgd_minibatch_size": 100,
                                          "model": {"fcnet_hiddens": [32]}})");
  const auto rows = test::scripted_rows(40, 10, 3, 1, [](const std::vector<float>&) {
    return test::ScriptedStep{{2}, {}, 1.f, std::log(0.9f)};
  });
  auto algo = make_algorithm("marwil", spec, 3);
  REQUIRE(algo->trains_offline());
  TrainStats first, last;
  for (int it = 0; it < 60; ++it) {
    last = algo->train_offline(rows, it * rows.count);
    if (it == 0) first = last;
  }
  for (const char* key : {"policy_loss", "imitation_loss", "vf_loss", "total_loss", "moving_average_sqd_adv_norm",
                          "cur_lr", "grad_gnorm"}) {
    CAPTURE(key);
    REQUIRE(last.count(key) == 1);
    CHECK(std::isfinite(last[key]));
  }
  CHECK(first["policy_loss"] > 1.0);  // about log 4 at the start
  CHECK(last["policy_loss"] < 0.05 * first["policy_loss"]);
  CHECK(last["vf_loss"] < first["vf_loss"]);
  CHECK(last["moving_average_sqd_adv_norm"] == doctest::Approx(100.0));  // beta = 0: untouched
  std::vector<float> obs;
  const auto out = greedy(*algo->snapshot(), 3, 500, 99, obs);
  int twos = 0;
  for (const auto& r : out) twos += r.discrete[0] == 2;
  CHECK(twos >= 495);  // > 99 %
}

TEST_CASE("marwil beta=0 clones a continuous behaviour (a = 0.5 obs[0])") {
  const auto spec = test::policy_spec("p", Space::box({2}), Space::box({1}, -1.f, 1.f),
                                      R"({"beta": 0, "lr": 0.01, "train_batch_size": 400, "sgd_minibatch_size": 100,
                                          "model": {"fcnet_hiddens": [32]}})");
  const auto rows = test::scripted_rows(40, 10, 2, 2, [](const std::vector<float>& o) {
    return test::ScriptedStep{{}, {0.5f * o[0]}, 0.f, 0.f};
  });
  auto algo = make_algorithm("marwil", spec, 4);
  for (int it = 0; it < 250; ++it) algo->train_offline(rows, it * rows.count);
  std::vector<float> obs;
  const auto out = greedy(*algo->snapshot(), 2, 200, 7, obs);
  double max_err = 0;
  for (size_t i = 0; i < out.size(); ++i)
    max_err = std::max(max_err, std::abs(static_cast<double>(out[i].dist_inputs[0]) - 0.5 * obs[2 * i]));
  MESSAGE("max |mean - 0.5 obs[0]| = " << max_err);
  CHECK(max_err < 0.1);
}

TEST_CASE("marwil beta>0 prefers the behaviour with the higher return; beta=0 does not") {
  // Two behaviours in equal parts on one-step episodes: action 1 earns 1, action 0 earns 0.
  int k = 0;
  const auto rows = test::scripted_rows(400, 1, 2, 5, [&](const std::vector<float>&) {
    const int64_t a = (k++ % 2);
    return test::ScriptedStep{{a}, {}, static_cast<float>(a), std::log(0.5f)};
  });
  auto p_high = [&](double beta) {
    const std::string cfg = R"({"lr": 0.01, "train_batch_size": 400, "sgd_minibatch_size": 100,
        "moving_average_sqd_adv_norm_start": 0.25, "model": {"fcnet_hiddens": [16]}, "beta": )" +
                            std::to_string(beta) + "}";
    const auto spec = test::policy_spec("p", Space::box({2}), Space::discrete(2), cfg.c_str());
    auto algo = make_algorithm("marwil", spec, 6);
    for (int it = 0; it < 150; ++it) algo->train_offline(rows, it * rows.count);
    std::vector<float> obs;
    const auto out = greedy(*algo->snapshot(), 2, 100, 8, obs);
    double p = 0;
    for (const auto& r : out) p += softmax_p(r.dist_inputs, 1) / static_cast<double>(out.size());
    return p;
  };
  const double cloned = p_high(0.0), weighted = p_high(1.0);
  MESSAGE("P(action 1): beta=0 " << cloned << ", beta=1 " << weighted);
  CHECK(cloned == doctest::Approx(0.5).epsilon(0.2));
  CHECK(weighted > 0.75);
}

TEST_CASE("offline rows: episode pieces end at dones, at another episode, and where t jumps") {
  core::OfflineBatch b;
  b.count = 6;
  b.rewards.assign(6, 0.f);
  b.eps_id = {"a", "a", "b", "b", "b", "a"};
  b.t = {0, 1, 0, 1, 5, 2};
  b.dones = {0, 1, 0, 0, 1, 0};
  b.truncateds = {0, 0, 0, 0, 1, 0};
  const auto s = offline_segments(b);
  REQUIRE(s.size() == 4);
  CHECK((s[0].begin == 0 && s[0].end == 2 && s[0].terminated));
  CHECK((s[1].begin == 2 && s[1].end == 4 && !s[1].terminated));   // t jumps from 1 to 5
  CHECK((s[2].begin == 4 && s[2].end == 5 && !s[2].terminated));   // truncated: bootstrap
  CHECK((s[3].begin == 5 && s[3].end == 6 && !s[3].terminated));   // the rows stop mid-episode
}

TEST_CASE("weighted importance sampling: a hand-computed estimate") {
  // Episode a: rewards 1, 2; mu 0.5, 0.5; pi 0.25, 1.0 -> p = 0.5, 1.0.
  // Episode b: reward 3; mu 0.5; pi 1.0 -> p = 2.0.  gamma 0.9.
  // w_0 = (0.5 + 2) / 2 = 1.25, w_1 = 1.0.
  // v_behavior: a 1 + 0.9 * 2 = 2.8, b 3 -> 2.9.
  // v_target:   a 0.5 / 1.25 * 1 + 1 / 1 * 0.9 * 2 = 2.2, b 2 / 1.25 * 3 = 4.8 -> 3.5.
  core::OfflineBatch b;
  b.count = 3;
  b.rewards = {1, 2, 3};
  b.eps_id = {"a", "a", "b"};
  b.t = {0, 1, 0};
  b.dones = {0, 1, 1};
  b.action_logp = {std::log(0.5f), std::log(0.5f), std::log(0.5f)};
  const std::vector<float> target{std::log(0.25f), std::log(1.0f), std::log(1.0f)};
  const auto e = wis_estimate(b, target, 0.9);
  CHECK(e.episodes == 2);
  CHECK(e.v_behavior == doctest::Approx(2.9));
  CHECK(e.v_target == doctest::Approx(3.5));
  CHECK(e.v_gain == doctest::Approx(3.5 / 2.9));
  CHECK(e.v_delta == doctest::Approx(0.6));
  CHECK(e.v_target_std == doctest::Approx(1.3));
  b.action_logp.clear();
  CHECK_THROWS_AS(wis_estimate(b, target, 0.9), std::invalid_argument);
}

TEST_CASE("marwil refuses online batches and rows that do not fit its spaces") {
  const auto spec = test::policy_spec("p", Space::box({3}), Space::discrete(4), R"({"train_batch_size": 200})");
  auto algo = make_algorithm("marwil", spec, 1);
  CHECK_THROWS_AS(algo->train(SampleBatch{}, 0), std::invalid_argument);
  auto rows = test::scripted_rows(2, 5, 2, 1, [](const std::vector<float>&) {
    return test::ScriptedStep{{1}, {}, 1.f, 0.f};
  });
  CHECK_THROWS_AS(algo->train_offline(rows, 0), std::invalid_argument);  // obs width 2, not 3
  CHECK_FALSE(make_algorithm("ppo", spec, 1)->trains_offline());
}
