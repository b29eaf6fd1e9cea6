// PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"), with RLlib's
// loss: clipped surrogate + adaptive KL penalty + clipped value loss - entropy bonus.
// One train() call = one iteration of CleanRL's ppo.py update loop over a given batch.
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "algorithms/torch/algorithms.h"
#include "algorithms/torch/fused_ppo.h"
#include "algorithms/torch/ppo_loss.h"
#include "algorithms/torch/torch_algorithm.h"
#include "algorithms/torch/train_guard.h"

namespace tandem::algo {
namespace {

class Ppo final : public TorchAlgorithm {
 public:
  Ppo(const PolicySpec& spec, uint64_t seed)
      : TorchAlgorithm("ppo", spec, seed), kl_coeff_(spec.config.kl_coeff) {
    if (FusedPpo::supports(spec_, model_)) {
      fused_ = std::make_unique<FusedPpo>(spec_);
      if (fused_->num_params() != flat_.data.numel()) fused_.reset();  // a layout it does not know
    }
  }

  void join_group(ReplicaGroup* group) override { group_ = group; }

  TrainStats train(const SampleBatch& batch, int64_t timesteps_total) override {
    const AlgoConfig& c = spec_.config;
    const Space& action_space = spec_.action_space;
    // In a replica group every rank runs every step below, also with an empty batch, and
    // each step's gradient and statistics are the group's (torch_algorithm.h: StepShare).

    // --- 1. The batch as tensors. Everything from the behaviour policy (old logp, old
    // distribution inputs, vf_preds) and the advantages / targets are constants: they are
    // fresh tensors that never saw autograd.
    std::string refused;
    const auto bt = batch_for_training(batch, refused);
    if (!bt) return refused.empty() ? TrainStats{{"num_sgd_steps", 0.0}} : skipped_batch(refused);
    const BatchTensors& b = *bt;
    const auto good = copy_weights(flat_.list());  // rollback point of the guard
    const int64_t n = b.n;
    const bool box = action_space.kind == SpaceKind::Box;

    const double lr = c.lr_at(timesteps_total);
    set_lr(lr);
    const double kl_coeff = kl_coeff_;  // the coefficient used in this iteration's loss

    // Minibatches: n / sgd_minibatch_size of them (at least one), the shuffled indices split
    // evenly among them so that every sample is used once per epoch. In a group n is the
    // group's and each rank splits its own rows into that many parts.
    const int64_t group_n = group_rows(n);
    if (group_n == 0) return {{"num_sgd_steps", 0.0}};
    const int64_t num_minibatches = std::max<int64_t>(1, group_n / c.sgd_minibatch_size);
    std::vector<int64_t> perm(static_cast<size_t>(n));

    // Stats: means over the minibatches of the last epoch (as RLlib reports them).
    double s_policy = 0, s_vf = 0, s_entropy = 0, s_kl = 0, s_total = 0, s_gnorm = 0, s_ev = 0;
    double s_approx_kl = 0, s_clip_frac = 0;
    int64_t num_sgd_steps = 0, bad_steps = 0, taken_last_epoch = 0;
    bool rolled_back = false;
    const auto t_group = group_ ? group_->times() : GroupTimes{};

    model_->train();
    for (int64_t epoch = 0; epoch < c.num_sgd_iter && !rolled_back; ++epoch) {
      // --- 2. Shuffle.
      std::iota(perm.begin(), perm.end(), int64_t{0});
      std::shuffle(perm.begin(), perm.end(), rng_);
      const auto perm_t = torch::from_blob(perm.data(), {n}, torch::kInt64);
      s_policy = s_vf = s_entropy = s_kl = s_total = s_gnorm = s_ev = s_approx_kl = s_clip_frac = 0;
      taken_last_epoch = 0;
      // In a group a minibatch is the union of every rank's part: its advantages are
      // standardised over all of them here (alone the loss does it), the statistics of the
      // epoch's minibatches in one collective.
      std::vector<MeanStd> adv_stats;
      if (group_ && c.normalize_advantages) {
        std::vector<torch::Tensor> parts;
        for (int64_t m = 0; m < num_minibatches; ++m)
          parts.push_back(b.advantages.index_select(0, perm_t.slice(0, m * n / num_minibatches, (m + 1) * n / num_minibatches)));
        adv_stats = group_mean_std(parts);
      }

      for (int64_t m = 0; m < num_minibatches; ++m) {
        const int64_t begin = m * n / num_minibatches, end = (m + 1) * n / num_minibatches;
        const auto idx = perm_t.slice(0, begin, end);
        PpoMinibatch mb;
        mb.obs = b.obs.index_select(0, idx);
        mb.old_logp = b.old_logp.index_select(0, idx);
        mb.old_dist_inputs = b.old_dist_inputs.index_select(0, idx);
        mb.vf_preds = b.vf_preds.index_select(0, idx);
        mb.value_targets = b.value_targets.index_select(0, idx);
        mb.advantages = b.advantages.index_select(0, idx);
        if (box)
          mb.actions_cont = b.actions_cont.index_select(0, idx);
        else
          mb.actions = b.actions.index_select(0, idx);
        if (!adv_stats.empty()) {
          mb.advantages = standardised(mb.advantages, adv_stats[static_cast<size_t>(m)]).contiguous();
          mb.advantages_standardised = true;
        }

        // --- 3.-9. The loss of this minibatch (ppo_loss.h: new log-probs, ratio, KL,
        //     normalised advantages, clipped surrogate, clipped value loss, total) and its
        //     gradient: by hand on the flat parameters when the model is the common case
        //     (fused_ppo.h), else LibTorch autograd.
        // --- 10. Gradient step with global-norm clipping, guarded (train_guard.h): a
        //         non-finite loss or gradient skips the step; weights a step left non-finite
        //         go back to this iteration's start and end the iteration. In a group the
        //         gradient and the statistics are first averaged over the ranks' rows.
        double gnorm = 0;
        FusedPpoStats fs;
        StepShare share;
        share.rows = static_cast<double>(mb.size());
        Step st;
        if (mb.size() == 0) {  // a rank with no rows in this step (groups only)
          flat_.grad.zero_();
          share.stats.assign(8, 0.0);
          st = apply_gradient(0.0, good, gnorm, &share);
        } else if (fused_) {
          fs = fused_->loss_and_grad(flat_.data.data_ptr<float>(), fused_inputs(mb), kl_coeff,
                                     flat_.grad.data_ptr<float>());
          const double ev = c.use_critic ? explained_variance(mb.value_targets, torch::from_blob(fs.values.data(), {mb.size()})) : 0.0;
          share.stats = {fs.policy_loss, fs.vf_loss, fs.entropy, fs.kl, fs.total, fs.approx_kl, fs.clip_frac, ev};
          st = apply_gradient(fs.total, good, gnorm, &share);
        } else {
          const PpoLossTerms t = ppo_loss(model_, spec_, mb, kl_coeff);
          share.stats = {t.policy_loss.item<double>(), t.vf_loss.item<double>(), t.entropy.item<double>(),
                         t.kl.item<double>(),          t.total.item<double>(),   t.approx_kl.item<double>(),
                         t.clip_frac.item<double>(),
                         c.use_critic ? explained_variance(mb.value_targets, t.values.detach()) : 0.0};
          st = guarded_step(t.total, good, gnorm, &share);
        }
        if (st == Step::Idle) continue;
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
        // The step's statistics: this rank's, or the group's after share_gradient.
        const auto& v = share.stats;
        s_policy += v[0];
        s_vf += v[1];
        s_entropy += v[2];
        s_kl += v[3];
        s_total += v[4];
        s_approx_kl += v[5];
        s_clip_frac += v[6];
        s_ev += v[7];
        s_gnorm += gnorm;
      }
    }
    const double nm = static_cast<double>(std::max<int64_t>(1, taken_last_epoch));
    const double mean_kl = s_kl / nm;

    // --- 11. Adaptive KL coefficient (RLlib's update_kl), from steps actually taken (in a
    //         group from the group's KL: the coefficient stays the same on every rank).
    if (kl_coeff_ > 0 && taken_last_epoch > 0 && !rolled_back) {
      if (mean_kl > 2.0 * c.kl_target)
        kl_coeff_ *= 1.5;
      else if (mean_kl < 0.5 * c.kl_target)
        kl_coeff_ *= 0.5;
    }

    // --- 12. Publish the new weights for inference.
    publish();

    TrainStats out{{"policy_loss", s_policy / nm},  {"vf_loss", s_vf / nm},
                   {"entropy", s_entropy / nm},     {"kl", mean_kl},
                   {"cur_kl_coeff", kl_coeff},      {"cur_lr", lr},
                   {"total_loss", s_total / nm},    {"grad_gnorm", s_gnorm / nm},
                   {"vf_explained_var", s_ev / nm}, {"num_sgd_steps", static_cast<double>(num_sgd_steps)},
                   {"approx_kl", s_approx_kl / nm}, {"clip_frac", s_clip_frac / nm},
                   {"num_bad_batches_skipped", refused.empty() ? 0.0 : 1.0},
                   {"num_bad_sgd_steps_skipped", static_cast<double>(bad_steps)}};
    if (group_) add_group_stats(out, t_group, group_n, c.num_sgd_iter * num_minibatches);
    return out;
  }

 private:
  void save_state(torch::serialize::OutputArchive& a) const override { write_scalar(a, "ppo_kl_coeff", kl_coeff_); }
  void load_state(torch::serialize::InputArchive& a) override { kl_coeff_ = read_scalar(a, "ppo_kl_coeff"); }

  double kl_coeff_;  // adaptive KL penalty coefficient
  std::unique_ptr<FusedPpo> fused_;  // the hand-written loss and gradient, when it applies
};

}  // namespace

std::unique_ptr<Algorithm> make_ppo(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<Ppo>(spec, seed);
}

}  // namespace tandem::algo
