// learner_bench: Tandem's PPO minibatch step next to a minimal LibTorch PPO step of the same
// network and minibatch, and next to the FLOP bound, measured in the same run.
//   learner_bench [--minibatch 256] [--batch 2048] [--epochs 10] [--threads 1]
// Prints, per round:
//   tandem : Algorithm::train() on a synthetic CartPole batch (Box(4), Discrete(2),
//            [64, 64] tanh actor and critic, Adam, grad clip 0.5), divided by its SGD steps:
//            everything the learner does per minibatch (gather, forward, loss, backward,
//            guard, clip, Adam, statistics);
//   minimal: the same network and loss written as plainly as LibTorch allows (CleanRL's
//            update: index_select, forward, clipped surrogate + value loss + entropy,
//            backward, clip_grad_norm_, Adam), no statistics, no guard;
//   flops  : 3x the forward FLOPs of both nets (forward + backward), at the GFLOP/s a large
//            torch::mm reaches on this machine (OpenBLAS on one thread: the fused path sets
//            it so, for the whole process).
#include <torch/torch.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>

#include "algorithms/policy.h"
#include "algorithms/sample_batch.h"
#include "algorithms/torch/models.h"

using namespace tandem;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

core::PolicySpec cartpole_spec(int64_t batch, int64_t minibatch, int64_t epochs) {
  core::PolicySpec spec{"p", core::Space::box({4}), core::Space::discrete(2), {}, {}};
  spec.config.model.fcnet_hiddens = {64, 64};
  spec.config.model.fcnet_activation = "tanh";
  spec.config.train_batch_size = batch;
  spec.config.sgd_minibatch_size = minibatch;
  spec.config.num_sgd_iter = epochs;
  spec.config.grad_clip = 0.5;
  spec.config.lr = 3e-4;
  spec.config.kl_coeff = 0;
  spec.config.entropy_coeff = 0;
  return spec;
}

algo::SampleBatch synthetic_batch(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  algo::SampleBatch b;
  b.obs_dim = 4;
  b.count = n;
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) b.obs.push_back(0.1f * g(rng));
    b.actions.push_back(static_cast<int64_t>(rng() % 2));
    b.dist_inputs.push_back(0.01f * g(rng));
    b.dist_inputs.push_back(0.01f * g(rng));
    const float l0 = b.dist_inputs[b.dist_inputs.size() - 2], l1 = b.dist_inputs.back();
    const float m = std::max(l0, l1), lse = m + std::log(std::exp(l0 - m) + std::exp(l1 - m));
    b.action_logp.push_back((b.actions.back() ? l1 : l0) - lse);
    b.vf_preds.push_back(g(rng));
    b.advantages.push_back(g(rng));
    b.value_targets.push_back(b.vf_preds.back() + b.advantages.back());
  }
  return b;
}

// CleanRL's update for a discrete policy, nothing else.
struct MinimalPpo {
  explicit MinimalPpo(const core::PolicySpec& spec)
      : model(algo::make_model(spec, 1)), opt(model->parameters(), torch::optim::AdamOptions(3e-4).eps(1e-5)) {}
  void step(const torch::Tensor& obs, const torch::Tensor& act, const torch::Tensor& old_logp,
            const torch::Tensor& adv_in, const torch::Tensor& ret) {
    const auto out = model->forward(obs);
    const auto logp_all = torch::log_softmax(out.dist_inputs, 1);
    const auto newlogp = logp_all.gather(1, act.unsqueeze(1)).squeeze(1);
    const auto entropy = -(logp_all.exp() * logp_all).sum(1).mean();
    const auto ratio = (newlogp - old_logp).exp();
    const auto adv = (adv_in - adv_in.mean()) / (adv_in.std() + 1e-8);
    const auto pg_loss = torch::max(-adv * ratio, -adv * torch::clamp(ratio, 0.8, 1.2)).mean();
    const auto v_loss = 0.5 * (out.values - ret).pow(2).mean();
    const auto loss = pg_loss - 0.0 * entropy + 0.5 * v_loss;
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 0.5);
    opt.step();
  }
  algo::ActorCritic model;
  torch::optim::Adam opt;
};

double forward_flops(int64_t rows) {
  // Actor 4-64-64-2 and critic 4-64-64-1: 2 * rows * (in * out) per layer.
  const double actor = 4 * 64 + 64 * 64 + 64 * 2, critic = 4 * 64 + 64 * 64 + 64 * 1;
  return 2.0 * static_cast<double>(rows) * (actor + critic);
}

double mm_gflops() {
  const auto a = torch::randn({512, 512}), b = torch::randn({512, 512});
  for (int i = 0; i < 5; ++i) (void)torch::mm(a, b);
  const int n = 40;
  const auto t0 = clk::now();
  for (int i = 0; i < n; ++i) (void)torch::mm(a, b);
  return 2.0 * 512 * 512 * 512 * n / seconds_since(t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PPO minibatch step: Tandem vs minimal LibTorch vs FLOP bound"};
  int64_t minibatch = 256, batch = 2048, epochs = 10;
  int threads = 1, rounds = 3;
  app.add_option("--minibatch", minibatch)->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs)->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "torch::set_num_threads")->check(CLI::Range(1, 64));
  app.add_option("--rounds", rounds)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);

  const auto spec = cartpole_spec(batch, minibatch, epochs);
  auto algo = algo::make_algorithm("ppo", spec, 1);
  const auto sb = synthetic_batch(batch, 2);
  MinimalPpo minimal(spec);
  const auto obs = torch::from_blob(const_cast<float*>(sb.obs.data()), {batch, 4}).clone();
  const auto act = torch::from_blob(const_cast<int64_t*>(sb.actions.data()), {batch}, torch::kInt64).clone();
  const auto logp = torch::from_blob(const_cast<float*>(sb.action_logp.data()), {batch}).clone();
  const auto adv = torch::from_blob(const_cast<float*>(sb.advantages.data()), {batch}).clone();
  const auto ret = torch::from_blob(const_cast<float*>(sb.value_targets.data()), {batch}).clone();
  const double gflops = mm_gflops();
  const double flop_us = 3.0 * forward_flops(minibatch) / (gflops * 1e9) * 1e6;
  std::printf("threads %d, minibatch %lld, batch %lld x %lld epochs; torch::mm 512^3 at %.1f GFLOP/s\n", threads,
              static_cast<long long>(minibatch), static_cast<long long>(batch), static_cast<long long>(epochs),
              gflops);
  algo->train(sb, 0);  // warm-up
  for (int r = 0; r < rounds; ++r) {
    auto t0 = clk::now();
    const auto stats = algo->train(sb, 0);
    const double steps = stats.at("num_sgd_steps");
    const double tandem_us = seconds_since(t0) / steps * 1e6;

    std::vector<int64_t> perm(static_cast<size_t>(batch));
    std::mt19937_64 rng(3);
    const int64_t num_mb = std::max<int64_t>(1, batch / minibatch);
    t0 = clk::now();
    int64_t n = 0;
    for (int64_t e = 0; e < epochs; ++e) {
      std::iota(perm.begin(), perm.end(), int64_t{0});
      std::shuffle(perm.begin(), perm.end(), rng);
      const auto p = torch::from_blob(perm.data(), {batch}, torch::kInt64);
      for (int64_t m = 0; m < num_mb; ++m, ++n) {
        const auto idx = p.slice(0, m * batch / num_mb, (m + 1) * batch / num_mb);
        minimal.step(obs.index_select(0, idx), act.index_select(0, idx), logp.index_select(0, idx),
                     adv.index_select(0, idx), ret.index_select(0, idx));
      }
    }
    const double minimal_us = seconds_since(t0) / static_cast<double>(n) * 1e6;
    std::printf("round %d: tandem %7.1f us/step   minimal %7.1f us/step   ratio %.2f   flop bound %6.1f us"
                "   (kl %.4f approx_kl %.4f clip_frac %.3f explained_var %.3f)\n",
                r, tandem_us, minimal_us, tandem_us / minimal_us, flop_us, stats.at("kl"), stats.at("approx_kl"),
                stats.at("clip_frac"), stats.at("vf_explained_var"));
  }
}
