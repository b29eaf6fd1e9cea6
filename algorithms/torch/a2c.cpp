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

  void join_group(ReplicaGroup* group) override { group_ = group; }

  TrainStats train(const SampleBatch& batch, int64_t timesteps_total) override {
    const AlgoConfig& c = spec_.config;
    // In a replica group every rank runs every step below, also with an empty batch; the
    // gradient step averages the ranks' gradients (torch_algorithm.h: StepShare).

    // 1. The batch as tensors (constants: advantages and targets carry no gradient).
    std::string refused;
    const auto bt = batch_for_training(batch, refused);
    if (!bt) return refused.empty() ? TrainStats{{"num_sgd_steps", 0.0}} : skipped_batch(refused);
    const BatchTensors& b = *bt;
    const auto good = copy_weights(flat_.list());  // rollback point of the guard
    const bool box = spec_.action_space.kind == SpaceKind::Box;
    const double lr = c.lr_at(timesteps_total);
    set_lr(lr);
    const auto t_group = group_ ? group_->times() : GroupTimes{};
    const int64_t group_n = group_rows(b.n);
    if (group_n == 0) return {{"num_sgd_steps", 0.0}};

    // 2. Advantages standardised over the batch (in a group: over every rank's rows).
    auto advantages = b.advantages;
    if (c.normalize_advantages) advantages = standardise(advantages);

    double gnorm = 0;
    StepShare share;
    share.rows = static_cast<double>(b.n);
    Step st;
    if (b.n == 0) {  // a rank with no rows this iteration (groups only)
      flat_.grad.zero_();
      share.stats.assign(5, 0.0);
      st = apply_gradient(0.0, good, gnorm, &share);
    } else {
      // 3. log pi(a|s), entropy and V(s) under the current parameters.
      model_->train();
      const ModelOutput out = model_->forward(b.obs);
      const ActionDistribution dist(spec_.action_space, out.dist_inputs, b.old_dist_inputs);
      const auto logp =
          dist.logp(box ? torch::Tensor() : b.actions, box ? b.actions_cont : torch::Tensor());
      const auto entropy = dist.entropy().mean();

      // 4. Loss = -E[log pi(a|s) A] + vf_loss_coeff * 0.5 E[(V(s) - target)^2] - entropy_coeff * H.
      const auto policy_loss = -(logp * advantages).mean();
      torch::Tensor vf_loss = torch::zeros({});
      if (c.use_critic) vf_loss = 0.5 * (out.values - b.value_targets).pow(2).mean();
      const auto total_loss = policy_loss + c.vf_loss_coeff * vf_loss - c.entropy_coeff * entropy;
      share.stats = {policy_loss.item<double>(), vf_loss.item<double>(), entropy.item<double>(),
                     total_loss.item<double>(),
                     c.use_critic ? explained_variance(b.value_targets, out.values.detach()) : 0.0};

      // 5. One gradient step, global-norm clipped and guarded (train_guard.h).
      st = guarded_step(total_loss, good, gnorm, &share);
    }
    const bool taken = st == Step::Taken;

    // 6. Publish the new weights for inference.
    publish();

    const auto& v = share.stats;  // this rank's, or the group's after the step
    TrainStats out{{"policy_loss", v[0]},
                   {"vf_loss", v[1]},
                   {"entropy", v[2]},
                   {"total_loss", v[3]},
                   {"cur_lr", lr},
                   {"grad_gnorm", gnorm},
                   {"vf_explained_var", v[4]},
                   {"num_sgd_steps", taken ? 1.0 : 0.0},
                   {"num_bad_batches_skipped", refused.empty() ? 0.0 : 1.0},
                   {"num_bad_sgd_steps_skipped", taken || st == Step::Idle ? 0.0 : 1.0}};
    if (group_) add_group_stats(out, t_group, group_n, 1);
    return out;
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_a2c(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<A2c>(spec, seed);
}

}  // namespace tandem::algo
