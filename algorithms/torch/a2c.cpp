// A2C: synchronous advantage actor-critic (Mnih et al. 2016, synchronous variant as in
// RLlib's A2C without microbatching): ONE gradient step on the whole batch per train().
// Advantages come with the batch: n-step returns minus V when lambda = 1 and fragments
// are bootstrapped, or GAE.
#include <ATen/ATen.h>

#include "algorithms/torch/algorithms.h"
#include "algorithms/torch/distributions.h"
#include "algorithms/torch/torch_algorithm.h"
#include "algorithms/torch/train_guard.h"

namespace tandem::algo {
namespace {

class A2c final : public TorchAlgorithm {
 public:
  A2c(const PolicySpec& spec, uint64_t seed) : TorchAlgorithm("a2c", spec, seed) {}

  TrainStats train(const SampleBatch& batch, int64_t timesteps_total) override {
    const AlgoConfig& c = spec_.config;
    if (batch.count == 0) return {{"num_sgd_steps", 0.0}};

    // 1. The batch as tensors (constants: advantages and targets carry no gradient).
    const BatchTensors b = to_tensors(batch);
    if (auto why = check_batch(b); !why.empty()) return skipped_batch(why);
    const auto good = copy_weights(flat_.list());  // rollback point of the guard
    const bool box = spec_.action_space.kind == SpaceKind::Box;
    const double lr = c.lr_at(timesteps_total);
    set_lr(lr);

    // 2. log pi(a|s), entropy and V(s) under the current parameters.
    model_->train();
    const ModelOutput out = model_->forward(b.obs);
    const ActionDistribution dist(spec_.action_space, out.dist_inputs, b.old_dist_inputs);
    const auto logp =
        dist.logp(box ? torch::Tensor() : b.actions, box ? b.actions_cont : torch::Tensor());
    const auto entropy = dist.entropy().mean();

    auto advantages = b.advantages;
    if (c.normalize_advantages && b.n > 1)
      advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8);

    // 3. Loss = -E[log pi(a|s) A] + vf_loss_coeff * 0.5 E[(V(s) - target)^2] - entropy_coeff * H.
    const auto policy_loss = -(logp * advantages).mean();
    torch::Tensor vf_loss = torch::zeros({});
    if (c.use_critic) vf_loss = 0.5 * (out.values - b.value_targets).pow(2).mean();
    const auto total_loss = policy_loss + c.vf_loss_coeff * vf_loss - c.entropy_coeff * entropy;

    // 4. One gradient step, global-norm clipped and guarded (train_guard.h).
    double gnorm = 0;
    const bool taken = guarded_step(total_loss, good, gnorm) == Step::Taken;

    // 5. Publish the new weights for inference.
    publish();

    return {{"policy_loss", policy_loss.item<double>()},
            {"vf_loss", vf_loss.item<double>()},
            {"entropy", entropy.item<double>()},
            {"total_loss", total_loss.item<double>()},
            {"cur_lr", lr},
            {"grad_gnorm", gnorm},
            {"vf_explained_var",
             c.use_critic ? explained_variance(b.value_targets, out.values.detach()) : 0.0},
            {"num_sgd_steps", taken ? 1.0 : 0.0},
            {"num_bad_batches_skipped", 0.0},
            {"num_bad_sgd_steps_skipped", taken ? 0.0 : 1.0}};
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_a2c(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<A2c>(spec, seed);
}

}  // namespace tandem::algo
