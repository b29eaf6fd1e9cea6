#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/action_logp.h"
#include "algorithms/policy.h"

using namespace tandem::algo;

namespace {

constexpr int kContexts = 4;

PolicySpec bandit_spec(const char* overrides) {
  PolicySpec spec;
  spec.policy_id = "bandit";
  spec.observation_space = Space::box({kContexts});
  spec.action_space = Space::discrete(kContexts);
  spec.config.merge_json(nlohmann::json::parse(overrides));
  return spec;
}

// Contextual bandit: obs = one-hot of a random context among 4; reward 1 if action ==
// context. Each step is a terminated length-1 trajectory. `masks`: for each context, the
// allowed actions (empty: no mask). Returns the mean reward of the collected steps.
double collect(const InferenceModel& model, const PolicySpec& spec, int steps, std::mt19937_64& rng,
               SampleBatch& batch, const std::vector<std::vector<float>>& masks = {}) {
  const auto& c = spec.config;
  std::vector<ActionResult> out;
  const std::vector<uint8_t> explore{1};
  double total = 0;
  for (int i = 0; i < steps; ++i) {
    const int ctx = static_cast<int>(rng() % kContexts);
    std::vector<float> obs(kContexts, 0.f);
    obs[ctx] = 1.f;
    std::span<const float> mask;
    if (!masks.empty()) mask = masks[ctx];
    model.compute_actions(obs, 1, mask, explore, rng, out);
    const auto& r = out[0];
    const float reward = r.discrete[0] == ctx ? 1.f : 0.f;
    total += reward;
    Trajectory t;
    t.obs_dim = kContexts;
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

int greedy_action(const InferenceModel& model, int ctx) {
  std::vector<float> obs(kContexts, 0.f);
  obs[ctx] = 1.f;
  std::vector<ActionResult> out;
  std::mt19937_64 rng(0);
  const std::vector<uint8_t> explore{0};
  model.compute_actions(obs, 1, {}, explore, rng, out);
  return static_cast<int>(out[0].discrete[0]);
}

void check_finite(const TrainStats& stats) {
  for (const auto& [k, v] : stats) {
    CAPTURE(k);
    CHECK(std::isfinite(v));
  }
}

}  // namespace

TEST_CASE("ppo: learns a contextual bandit") {
  const auto spec = bandit_spec(R"({
    "lr": 1e-3, "train_batch_size": 256, "sgd_minibatch_size": 64, "num_sgd_iter": 6,
    "gamma": 0.99, "lambda": 0.95, "model": {"fcnet_hiddens": [32, 32]}})");
  auto algo = make_algorithm("ppo", spec, /*seed=*/42);
  CHECK(algo->name() == "ppo");
  CHECK(algo->snapshot()->version() == 0);
  std::mt19937_64 rng(7);
  double mean_reward = 0;
  TrainStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; it < 25; ++it) {
    SampleBatch batch;
    mean_reward = collect(*algo->snapshot(), spec, 256, rng, batch);
    stats = algo->train(batch, (it + 1) * 256);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("ppo bandit: 25 iterations in " << secs << " s, last reward " << mean_reward);
  CHECK(algo->snapshot()->version() == 25);
  check_finite(stats);
  for (const char* key : {"policy_loss", "vf_loss", "entropy", "kl", "cur_kl_coeff", "cur_lr",
                          "total_loss", "grad_gnorm", "vf_explained_var", "num_sgd_steps"})
    CHECK(stats.count(key) == 1);
  CHECK(stats["num_sgd_steps"] == 6 * 4);
  CHECK(stats["cur_lr"] == doctest::Approx(1e-3));
  for (int ctx = 0; ctx < kContexts; ++ctx) CHECK(greedy_action(*algo->snapshot(), ctx) == ctx);
  CHECK(mean_reward > 0.9);
}

TEST_CASE("ppo: MultiDiscrete and Box actions learn too") {
  SUBCASE("MultiDiscrete: both components must match the context") {
    PolicySpec spec;
    spec.observation_space = Space::box({kContexts});
    spec.action_space = Space::multi_discrete({kContexts, kContexts});
    spec.config.merge_json(nlohmann::json::parse(R"({
      "lr": 2e-3, "train_batch_size": 256, "sgd_minibatch_size": 64, "num_sgd_iter": 6,
      "model": {"fcnet_hiddens": [32, 32]}})"));
    auto algo = make_algorithm("ppo", spec, 3);
    std::mt19937_64 rng(11);
    std::vector<ActionResult> out;
    const std::vector<uint8_t> explore{1};
    double mean = 0;
    for (int it = 0; it < 25; ++it) {
      SampleBatch batch;
      double total = 0;
      for (int i = 0; i < 256; ++i) {
        const int ctx = static_cast<int>(rng() % kContexts);
        std::vector<float> obs(kContexts, 0.f);
        obs[ctx] = 1.f;
        algo->snapshot()->compute_actions(obs, 1, {}, explore, rng, out);
        const auto& r = out[0];
        // logp of a MultiDiscrete action is the sum over its components.
        CHECK(r.logp ==
              doctest::Approx(action_logp(spec.action_space, r.dist_inputs, r.discrete, {})));
        const float reward =
            0.5f * (r.discrete[0] == ctx) + 0.5f * (r.discrete[1] == (ctx + 1) % kContexts);
        total += reward;
        Trajectory t;
        t.obs_dim = kContexts;
        t.obs = obs;
        t.actions = r.discrete;
        t.action_logp = {r.logp};
        t.vf_preds = {r.vf_pred};
        t.dist_inputs = r.dist_inputs;
        t.rewards = {reward};
        t.terminated = true;
        batch.append(t, 0.99, 1.0, true, true);
      }
      mean = total / 256;
      check_finite(algo->train(batch, 0));
    }
    CHECK(mean > 0.85);
  }
  SUBCASE("Box: the mean moves to the context's target") {
    PolicySpec spec;
    spec.observation_space = Space::box({2});
    spec.action_space = Space::box({1});
    spec.config.merge_json(nlohmann::json::parse(R"({
      "lr": 3e-3, "train_batch_size": 256, "sgd_minibatch_size": 64, "num_sgd_iter": 8,
      "normalize_advantages": true, "model": {"fcnet_hiddens": [32]}})"));
    auto algo = make_algorithm("ppo", spec, 5);
    std::mt19937_64 rng(13);
    std::vector<ActionResult> out;
    const std::vector<uint8_t> explore{1};
    const float targets[2] = {-0.5f, 0.8f};
    for (int it = 0; it < 40; ++it) {
      SampleBatch batch;
      for (int i = 0; i < 256; ++i) {
        const int ctx = static_cast<int>(rng() % 2);
        std::vector<float> obs{ctx == 0 ? 1.f : 0.f, ctx == 1 ? 1.f : 0.f};
        algo->snapshot()->compute_actions(obs, 1, {}, explore, rng, out);
        const auto& r = out[0];
        REQUIRE(r.continuous.size() == 1);
        REQUIRE(r.dist_inputs.size() == 2);
        CHECK(r.logp ==
              doctest::Approx(action_logp(spec.action_space, r.dist_inputs, {}, r.continuous)));
        const float d = r.continuous[0] - targets[ctx];
        Trajectory t;
        t.obs_dim = 2;
        t.obs = obs;
        t.actions_cont = r.continuous;
        t.action_logp = {r.logp};
        t.vf_preds = {r.vf_pred};
        t.dist_inputs = r.dist_inputs;
        t.rewards = {-d * d};
        t.terminated = true;
        batch.append(t, 0.99, 1.0, true, true);
      }
      check_finite(algo->train(batch, 0));
    }
    const std::vector<uint8_t> greedy{0};
    for (int ctx = 0; ctx < 2; ++ctx) {
      std::vector<float> obs{ctx == 0 ? 1.f : 0.f, ctx == 1 ? 1.f : 0.f};
      algo->snapshot()->compute_actions(obs, 1, {}, greedy, rng, out);
      CAPTURE(ctx);
      CHECK(out[0].continuous[0] == doctest::Approx(targets[ctx]).epsilon(0.15));
      CHECK(out[0].dist_inputs[1] < 0.f);  // log_std shrank
    }
  }
}

TEST_CASE("ppo: masked actions are never sampled") {
  const auto spec = bandit_spec(R"({
    "lr": 1e-3, "train_batch_size": 128, "sgd_minibatch_size": 64, "num_sgd_iter": 4,
    "model": {"fcnet_hiddens": [16]}})");
  auto algo = make_algorithm("ppo", spec, 1);
  std::mt19937_64 rng(3);
  std::vector<ActionResult> out;

  // Only actions 1 and 3 allowed, for a batch of 3 (the middle row unmasked).
  const std::vector<float> obs(3 * kContexts, 0.25f);
  const std::vector<float> masks{0, 1, 0, 1, /**/ 1, 1, 1, 1, /**/ 0, 1, 0, 1};
  const std::vector<uint8_t> explore{1, 1, 1};
  std::set<int64_t> seen_masked, seen_free;
  for (int i = 0; i < 500; ++i) {
    algo->snapshot()->compute_actions(obs, 3, masks, explore, rng, out);
    for (int row : {0, 2}) {
      seen_masked.insert(out[row].discrete[0]);
      CHECK(out[row].dist_inputs[0] == kMaskedLogit);
      CHECK(out[row].dist_inputs[2] == kMaskedLogit);
      CHECK(out[row].logp == doctest::Approx(action_logp(spec.action_space, out[row].dist_inputs,
                                                         out[row].discrete, {})));
      CHECK(out[row].logp > std::log(0.5f) - 0.1f);  // ~ uniform over the two allowed actions
    }
    seen_free.insert(out[1].discrete[0]);
  }
  CHECK(seen_masked == std::set<int64_t>{1, 3});
  CHECK(seen_free == std::set<int64_t>{0, 1, 2, 3});

  // Greedy respects the mask as well.
  const std::vector<uint8_t> greedy{0, 0, 0};
  algo->snapshot()->compute_actions(obs, 3, masks, greedy, rng, out);
  CHECK((out[0].discrete[0] == 1 || out[0].discrete[0] == 3));

  // Training on masked experience: finite stats; the masked action stays unsampled when
  // the right answer is masked away (context 0 only allows 2 and 3).
  std::vector<std::vector<float>> ctx_masks(kContexts, std::vector<float>(kContexts, 1.f));
  ctx_masks[0] = {0, 0, 1, 1};
  for (int it = 0; it < 5; ++it) {
    SampleBatch batch;
    collect(*algo->snapshot(), spec, 128, rng, batch, ctx_masks);
    for (size_t i = 0; i < static_cast<size_t>(batch.count); ++i)
      if (batch.obs[i * kContexts] == 1.f) CHECK(batch.actions[i] >= 2);
    check_finite(algo->train(batch, 0));
  }

  // Bad mask sizes are rejected.
  CHECK_THROWS_AS(
      algo->snapshot()->compute_actions(obs, 3, std::vector<float>(5, 1.f), explore, rng, out),
      std::invalid_argument);
}

TEST_CASE("inference: batch paths agree and greedy is deterministic") {
  const auto spec = bandit_spec(R"({"model": {"fcnet_hiddens": [64, 64]}})");
  for (const char* name : {"ppo", "a2c"}) {
    auto algo = make_algorithm(name, spec, 9);
    auto model = algo->snapshot();
    std::mt19937_64 rng(1);
    std::normal_distribution<float> nd;
    const int B = 64;  // large enough for the BLAS path; batch 1 takes the plain-C++ path
    std::vector<float> obs(B * kContexts);
    for (auto& x : obs) x = nd(rng);
    std::vector<ActionResult> big, one;
    const std::vector<uint8_t> greedy(B, 0);
    model->compute_actions(obs, B, {}, greedy, rng, big);
    std::vector<float> values;
    model->compute_values(obs, B, values);
    for (int i = 0; i < B; ++i) {
      const std::vector<uint8_t> g1{0};
      model->compute_actions(std::span<const float>(obs).subspan(i * kContexts, kContexts), 1, {},
                             g1, rng, one);
      CHECK(one[0].discrete == big[i].discrete);
      CHECK(one[0].vf_pred == doctest::Approx(big[i].vf_pred).epsilon(1e-4));
      CHECK(values[i] == doctest::Approx(big[i].vf_pred).epsilon(1e-4));
      for (size_t k = 0; k < one[0].dist_inputs.size(); ++k)
        CHECK(one[0].dist_inputs[k] == doctest::Approx(big[i].dist_inputs[k]).epsilon(1e-4));
    }
    // The weights blob rebuilds the same model.
    auto copy = load_inference_model(spec, model->serialize_weights(), 17);
    CHECK(copy->version() == 17);
    std::vector<ActionResult> again;
    copy->compute_actions(obs, B, {}, greedy, rng, again);
    for (int i = 0; i < B; ++i) CHECK(again[i].dist_inputs == big[i].dist_inputs);
    auto other = spec;
    other.config.model.fcnet_hiddens = {8};
    CHECK_THROWS_AS(load_inference_model(other, model->serialize_weights(), 1),
                    std::invalid_argument);
  }
}

TEST_CASE("ppo: snapshots serve while the learner trains") {
  const auto spec = bandit_spec(R"({"lr": 1e-3, "train_batch_size": 128, "sgd_minibatch_size": 32,
                                    "num_sgd_iter": 4, "model": {"fcnet_hiddens": [32, 32]}})");
  auto algo = make_algorithm("ppo", spec, 2);
  std::mt19937_64 rng(4);
  std::vector<SampleBatch> batches(6);
  for (auto& b : batches) collect(*algo->snapshot(), spec, 128, rng, b);

  std::atomic<bool> done{false};
  std::atomic<int64_t> calls{0}, bad{0};
  std::thread server([&] {
    std::mt19937_64 r(5);
    std::vector<ActionResult> out;
    const std::vector<float> obs(8 * kContexts, 0.25f);
    const std::vector<uint8_t> explore(8, 1);
    int64_t last_version = 0;
    while (!done.load()) {
      auto snap = algo->snapshot();
      if (snap->version() < last_version) ++bad;
      last_version = snap->version();
      snap->compute_actions(std::span<const float>(obs).first(kContexts), 1, {},
                            std::span<const uint8_t>(explore).first(1), r, out);
      snap->compute_actions(obs, 8, {}, explore, r, out);
      for (const auto& a : out)
        if (!std::isfinite(a.logp) || a.discrete[0] < 0 || a.discrete[0] >= kContexts) ++bad;
      ++calls;
    }
  });
  for (const auto& b : batches) algo->train(b, 0);
  done = true;
  server.join();
  CHECK(bad.load() == 0);
  CHECK(calls.load() > 0);
  CHECK(algo->snapshot()->version() == 6);
}

TEST_CASE("registry") {
  const auto names = algorithm_names();
  CHECK(names == std::vector<std::string>{"ppo", "a2c", "marwil", "crr"});
  try {
    make_algorithm("dqn", bandit_spec("{}"), 0);
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("ppo") != std::string::npos);
  }
}
