// PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"), with RLlib's
// loss: clipped surrogate + adaptive KL penalty + clipped value loss - entropy bonus.
// One train() call = one iteration of CleanRL's ppo.py update loop over a given batch.
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "algorithms/torch/algorithms.h"
#include "algorithms/torch/distributions.h"
#include "algorithms/torch/torch_algorithm.h"
#include "algorithms/torch/train_guard.h"

namespace tandem::algo {
namespace {

class Ppo final : public TorchAlgorithm {
 public:
  Ppo(const PolicySpec& spec, uint64_t seed)
      : TorchAlgorithm("ppo", spec, seed), kl_coeff_(spec.config.kl_coeff) {}

  TrainStats train(const SampleBatch& batch, int64_t timesteps_total) override {
    const AlgoConfig& c = spec_.config;
    const Space& action_space = spec_.action_space;
    if (batch.count == 0) return {{"num_sgd_steps", 0.0}};

    // --- 1. The batch as tensors. Everything from the behaviour policy (old logp, old
    // distribution inputs, vf_preds) and the advantages / targets are constants: they are
    // fresh tensors that never saw autograd.
    const BatchTensors b = to_tensors(batch);
    if (auto why = check_batch(b); !why.empty()) return skipped_batch(why);
    const auto good = copy_weights(flat_.list());  // rollback point of the guard
    const int64_t n = b.n;
    const bool box = action_space.kind == SpaceKind::Box;

    const double lr = c.lr_at(timesteps_total);
    set_lr(lr);
    const double kl_coeff = kl_coeff_;  // the coefficient used in this iteration's loss

    // Minibatches: n / sgd_minibatch_size of them (at least one), the shuffled indices split
    // evenly among them so that every sample is used once per epoch.
    const int64_t num_minibatches = std::max<int64_t>(1, n / c.sgd_minibatch_size);
    std::vector<int64_t> perm(static_cast<size_t>(n));

    // Stats: means over the minibatches of the last epoch (as RLlib reports them).
    double s_policy = 0, s_vf = 0, s_entropy = 0, s_kl = 0, s_total = 0, s_gnorm = 0, s_ev = 0;
    int64_t num_sgd_steps = 0, bad_steps = 0, taken_last_epoch = 0;
    bool rolled_back = false;

    model_->train();
    for (int64_t epoch = 0; epoch < c.num_sgd_iter && !rolled_back; ++epoch) {
      // --- 2. Shuffle.
      std::iota(perm.begin(), perm.end(), int64_t{0});
      std::shuffle(perm.begin(), perm.end(), rng_);
      const auto perm_t = torch::from_blob(perm.data(), {n}, torch::kInt64);
      s_policy = s_vf = s_entropy = s_kl = s_total = s_gnorm = s_ev = 0;
      taken_last_epoch = 0;

      for (int64_t m = 0; m < num_minibatches; ++m) {
        const int64_t begin = m * n / num_minibatches, end = (m + 1) * n / num_minibatches;
        const auto idx = perm_t.slice(0, begin, end);
        const auto mb_obs = b.obs.index_select(0, idx);
        const auto mb_old_logp = b.old_logp.index_select(0, idx);
        const auto mb_old_dist_inputs = b.old_dist_inputs.index_select(0, idx);
        const auto mb_vf_preds = b.vf_preds.index_select(0, idx);
        const auto mb_value_targets = b.value_targets.index_select(0, idx);
        auto mb_advantages = b.advantages.index_select(0, idx);
        const auto mb_actions = box ? torch::Tensor() : b.actions.index_select(0, idx);
        const auto mb_actions_cont = box ? b.actions_cont.index_select(0, idx) : torch::Tensor();

        // --- 3. New log-probs, entropy and values under the current parameters.
        const ModelOutput out = model_->forward(mb_obs);
        const ActionDistribution old_dist(action_space, mb_old_dist_inputs);
        // The behaviour policy's action mask (in its dist_inputs) applies to the new logits.
        const ActionDistribution new_dist(action_space, out.dist_inputs, mb_old_dist_inputs);
        const auto newlogp = new_dist.logp(mb_actions, mb_actions_cont);
        const auto entropy = new_dist.entropy().mean();

        // --- 4. Probability ratio r = pi_new(a|s) / pi_old(a|s). (The log-ratio is clamped to
        //        +-20 so that exp() stays finite; the clipped objective is flat there anyway.)
        const auto logratio = (newlogp - mb_old_logp).clamp(-20.0, 20.0);
        const auto ratio = logratio.exp();

        // --- 5. KL(pi_old || pi_new), for the adaptive penalty (and as a statistic).
        const auto kl = old_dist.kl(new_dist).mean();

        // --- 6. Advantages, standardised per minibatch if asked.
        if (c.normalize_advantages && mb_advantages.size(0) > 1)
          mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8);

        // --- 7. Clipped surrogate objective (maximised, so the loss is its negative).
        const auto surr1 = mb_advantages * ratio;
        const auto surr2 =
            mb_advantages * torch::clamp(ratio, 1.0 - c.clip_param, 1.0 + c.clip_param);
        const auto policy_loss = -torch::min(surr1, surr2).mean();

        // --- 8. Value loss, clipped around the behaviour values (PPO2 / RLlib 0.x style).
        torch::Tensor vf_loss = torch::zeros({});
        if (c.use_critic) {
          const auto& v = out.values;
          const auto vf_loss1 = (v - mb_value_targets).pow(2);
          if (c.vf_clip_param > 0) {
            const auto v_clipped =
                mb_vf_preds + torch::clamp(v - mb_vf_preds, -c.vf_clip_param, c.vf_clip_param);
            const auto vf_loss2 = (v_clipped - mb_value_targets).pow(2);
            vf_loss = torch::max(vf_loss1, vf_loss2).mean();
          } else {
            vf_loss = vf_loss1.mean();
          }
        }

        // --- 9. Total loss (RLlib): -surrogate + kl_coeff * KL + vf_loss_coeff * vf_loss
        //        - entropy_coeff * entropy.
        auto total_loss = policy_loss + c.vf_loss_coeff * vf_loss - c.entropy_coeff * entropy;
        if (kl_coeff > 0) total_loss = total_loss + kl_coeff * kl;

        // --- 10. Gradient step with global-norm clipping, guarded (train_guard.h): a
        //         non-finite loss or gradient skips the step; weights a step left non-finite
        //         go back to this iteration's start and end the iteration.
        double gnorm = 0;
        const Step st = guarded_step(total_loss, good, gnorm);
        if (st != Step::Taken) {
          ++bad_steps;
          if (st == Step::RolledBack) {
            rolled_back = true;
            break;
          }
          continue;
        }
        ++num_sgd_steps;
        ++taken_last_epoch;

        s_policy += policy_loss.item<double>();
        s_vf += vf_loss.item<double>();
        s_entropy += entropy.item<double>();
        s_kl += kl.item<double>();
        s_total += total_loss.item<double>();
        s_gnorm += gnorm;
        s_ev += c.use_critic ? explained_variance(mb_value_targets, out.values.detach()) : 0.0;
      }
    }
    const double nm = static_cast<double>(std::max<int64_t>(1, taken_last_epoch));
    const double mean_kl = s_kl / nm;

    // --- 11. Adaptive KL coefficient (RLlib's update_kl), from steps actually taken.
    if (kl_coeff_ > 0 && taken_last_epoch > 0 && !rolled_back) {
      if (mean_kl > 2.0 * c.kl_target)
        kl_coeff_ *= 1.5;
      else if (mean_kl < 0.5 * c.kl_target)
        kl_coeff_ *= 0.5;
    }

    // --- 12. Publish the new weights for inference.
    publish();

    return {{"policy_loss", s_policy / nm},  {"vf_loss", s_vf / nm},
            {"entropy", s_entropy / nm},     {"kl", mean_kl},
            {"cur_kl_coeff", kl_coeff},      {"cur_lr", lr},
            {"total_loss", s_total / nm},    {"grad_gnorm", s_gnorm / nm},
            {"vf_explained_var", s_ev / nm}, {"num_sgd_steps", static_cast<double>(num_sgd_steps)},
            {"num_bad_batches_skipped", 0.0}, {"num_bad_sgd_steps_skipped", static_cast<double>(bad_steps)}};
  }

 private:
  void save_state(torch::serialize::OutputArchive& a) const override {
    a.write("ppo_kl_coeff", torch::tensor(kl_coeff_, torch::kFloat64));
  }
  void load_state(torch::serialize::InputArchive& a) override {
    torch::Tensor t;
    a.read("ppo_kl_coeff", t);
    kl_coeff_ = t.item<double>();
  }

  double kl_coeff_;  // adaptive KL penalty coefficient
};

}  // namespace

std::unique_ptr<Algorithm> make_ppo(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<Ppo>(spec, seed);
}

}  // namespace tandem::algo
