// The fused PPO path (algorithms/torch/fused_ppo.h) must compute ppo_loss() and exactly the
// gradient LibTorch's autograd computes for it, in the cases that make the loss piecewise:
// ratios inside and outside the clip range, clamped and unclamped value losses, masked
// actions, entropy and KL terms, tanh and relu. (DOCTEST_ spellings: LibTorch's c10 logging
// defines CHECK and friends itself.)
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>
#include <random>

#include "algorithms/sample_batch.h"
#include "algorithms/torch/flat_parameters.h"
#include "algorithms/torch/fused_ppo.h"
#include "algorithms/torch/models.h"
#include "algorithms/torch/ppo_loss.h"

using namespace tandem;
using namespace tandem::algo;

namespace {

core::PolicySpec spec_for(const std::string& activation) {
  core::PolicySpec spec{"p", core::Space::box({3}), core::Space::discrete(4), {}, {}};
  spec.config.model.fcnet_hiddens = {8, 6};
  spec.config.model.fcnet_activation = activation;
  spec.config.clip_param = 0.2;
  spec.config.vf_clip_param = 0.5;
  spec.config.vf_loss_coeff = 0.7;
  spec.config.entropy_coeff = 0.05;
  spec.config.normalize_advantages = true;
  return spec;
}

struct Case {
  PpoMinibatch mb;
  FusedPpoInputs in;
};

// A minibatch whose behaviour policy differs enough from the model that many ratios leave
// the clip range, with some actions masked and value predictions near the model's values.
Case make_case(ActorCritic& model, int64_t m, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  Case c;
  auto& mb = c.mb;
  mb.obs = torch::randn({m, 3});
  torch::Tensor logits, values;
  {
    torch::NoGradGuard g;
    const auto out = model->forward(mb.obs);
    logits = out.dist_inputs.clone();
    values = out.values.clone();
  }
  auto old = logits + 0.6 * torch::randn({m, 4});
  // Mask action 3 in every other row; the taken action is never a masked one.
  for (int64_t i = 0; i < m; i += 2) old[i][3] = kMaskedLogit;
  std::mt19937_64 rng(seed);
  mb.actions = torch::empty({m, 1}, torch::kInt64);
  for (int64_t i = 0; i < m; ++i) mb.actions[i][0] = static_cast<int64_t>(rng() % (i % 2 == 0 ? 3 : 4));
  mb.old_dist_inputs = old;
  mb.old_logp = torch::log_softmax(old, 1).gather(1, mb.actions).squeeze(1).contiguous();
  mb.vf_preds = (values + 0.8 * torch::randn({m})).contiguous();
  mb.value_targets = (values + torch::randn({m})).contiguous();
  mb.advantages = (torch::randn({m}) * 2 + 0.3).contiguous();
  c.in = fused_inputs(mb);
  return c;
}

template <class Tweak>
void check_against_autograd(const std::string& activation, double kl_coeff, Tweak tweak) {
  DOCTEST_CAPTURE(activation);
  DOCTEST_CAPTURE(kl_coeff);
  auto spec = spec_for(activation);
  tweak(spec.config);
  auto model = make_model(spec, 4);
  auto flat = flatten_parameters(model);
  DOCTEST_REQUIRE(FusedPpo::supports(spec, model));
  for (uint64_t seed : {1u, 2u, 3u}) {
    DOCTEST_CAPTURE(seed);
    auto c = make_case(model, 48, seed);
    flat.grad.zero_();
    const PpoLossTerms t = ppo_loss(model, spec, c.mb, kl_coeff);
    t.total.backward();
    const auto want = flat.grad.clone();

    FusedPpo fused(spec);
    std::vector<float> got(static_cast<size_t>(flat.data.numel()), 123.f);  // overwritten
    const auto s = fused.loss_and_grad(flat.data.data_ptr<float>(), c.in, kl_coeff, got.data());

    // The case exercises every branch: ratios clipped on both sides and not, values clamped.
    DOCTEST_CHECK(t.clip_frac.item<double>() > 0.1);
    DOCTEST_CHECK(t.clip_frac.item<double>() < 0.9);
    DOCTEST_CHECK(s.clip_frac == doctest::Approx(t.clip_frac.item<double>()));
    DOCTEST_CHECK(s.policy_loss == doctest::Approx(t.policy_loss.item<double>()).epsilon(1e-5));
    DOCTEST_CHECK(s.vf_loss == doctest::Approx(t.vf_loss.item<double>()).epsilon(1e-5));
    DOCTEST_CHECK(s.entropy == doctest::Approx(t.entropy.item<double>()).epsilon(1e-5));
    DOCTEST_CHECK(s.kl == doctest::Approx(t.kl.item<double>()).epsilon(1e-4));
    DOCTEST_CHECK(s.approx_kl == doctest::Approx(t.approx_kl.item<double>()).epsilon(1e-4));
    DOCTEST_CHECK(s.total == doctest::Approx(t.total.item<double>()).epsilon(1e-5));
    const auto got_t = torch::from_blob(got.data(), {flat.data.numel()});
    const double scale = std::max(1e-3, want.abs().max().item<double>());
    const double err = (got_t - want).abs().max().item<double>();
    DOCTEST_CHECK_MESSAGE(err <= 1e-4 * scale, "max |fused - autograd| " << err << " of max |grad| " << scale);
    DOCTEST_CHECK(got_t.abs().max().item<double>() > 1e-6);  // not all zero
  }
}

}  // namespace

TEST_CASE("the fused PPO loss and gradient equal LibTorch's autograd (tanh and relu, with and without KL)") {
  auto as_is = [](AlgoConfig&) {};
  check_against_autograd("tanh", 0.0, as_is);
  check_against_autograd("tanh", 0.3, as_is);
  check_against_autograd("relu", 0.2, as_is);
  // The shipped CartPole config: no value clipping, no entropy; and raw advantages.
  check_against_autograd("tanh", 0.0, [](AlgoConfig& c) {
    c.vf_clip_param = 0;
    c.entropy_coeff = 0;
  });
  check_against_autograd("relu", 0.0, [](AlgoConfig& c) { c.normalize_advantages = false; });
  // No critic: the value net gets a zero gradient, the loss no value term.
  check_against_autograd("tanh", 0.1, [](AlgoConfig& c) { c.use_critic = false; });
}

TEST_CASE("the fused path applies only to Discrete actions with separate tanh or relu MLPs") {
  auto box = spec_for("tanh");
  box.action_space = core::Space::box({2});
  DOCTEST_CHECK_FALSE(FusedPpo::supports(box, make_model(box, 1)));
  auto shared = spec_for("tanh");
  shared.config.model.vf_share_layers = true;
  DOCTEST_CHECK_FALSE(FusedPpo::supports(shared, make_model(shared, 1)));
  auto elu = spec_for("elu");
  DOCTEST_CHECK_FALSE(FusedPpo::supports(elu, make_model(elu, 1)));
  auto multi = spec_for("tanh");
  multi.action_space = core::Space::multi_discrete({2, 3});
  DOCTEST_CHECK_FALSE(FusedPpo::supports(multi, make_model(multi, 1)));
}
