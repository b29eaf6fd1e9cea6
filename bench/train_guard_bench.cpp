// What the learner's guard (algorithms/torch/train_guard.h) costs next to the SGD step it
// guards: one PPO-sized minibatch step (CartPole's [64, 64] actor-critic, minibatch 128,
// Adam, one thread) against check_weights (after every step) and copy_weights (once per
// train() call). Prints microseconds per call, three rounds.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "algorithms/torch/models.h"
#include "algorithms/torch/train_guard.h"

using namespace tandem;

int main() {
  torch::set_num_threads(1);
  core::PolicySpec spec{"p", core::Space::box({4}), core::Space::discrete(2), {}, {}};
  spec.config.model.fcnet_hiddens = {64, 64};
  auto model = algo::make_model(spec, 1);
  const auto params = model->parameters();
  torch::optim::Adam opt(params, 3e-4);
  const auto x = torch::randn({128, 4});
  auto step = [&] {
    opt.zero_grad();
    const auto out = model->forward(x);
    (out.dist_inputs.pow(2).mean() + out.values.pow(2).mean()).backward();
    torch::nn::utils::clip_grad_norm_(params, 0.5);
    opt.step();
  };
  auto time_us = [](auto f, int n) {
    for (int i = 0; i < n / 10; ++i) f();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) f();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
  };
  for (int round = 0; round < 3; ++round) {
    const double s = time_us(step, 1000);
    const double c = time_us([&] { return algo::check_weights(params).empty(); }, 1000);
    const double k = time_us([&] { return algo::copy_weights(params).size(); }, 1000);
    std::printf("sgd step %7.1f us   check_weights %5.1f us (%.1f%% of a step)   copy_weights %5.1f us\n", s, c,
                100 * c / s, k);
  }
}
