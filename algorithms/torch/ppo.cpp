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
    double s_approx_kl = 0, s_clip_frac = 0;
    int64_t num_sgd_steps = 0, bad_steps = 0, taken_last_epoch = 0;
    bool rolled_back = false;

    model_->train();
    for (int64_t epoch = 0; epoch < c.num_sgd_iter && !rolled_back; ++epoch) {
      // --- 2. Shuffle.
      std::iota(perm.begin(), perm.end(), int64_t{0});
      std::shuffle(perm.begin(), perm.end(), rng_);
      const auto perm_t = torch::from_blob(perm.data(), {n}, torch::kInt64);
      s_policy = s_vf = s_entropy = s_kl = s_total = s_gnorm = s_ev = s_approx_kl = s_clip_frac = 0;
      taken_last_epoch = 0;

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

        // --- 3.-9. The loss of this minibatch (ppo_loss.h: new log-probs, ratio, KL,
        //     normalised advantages, clipped surrogate, clipped value loss, total) and its
        //     gradient: by hand on the flat parameters when the model is the common case
        //     (fused_ppo.h), else LibTorch autograd.
        // --- 10. Gradient step with global-norm clipping, guarded (train_guard.h): a
        //         non-finite loss or gradient skips the step; weights a step left non-finite
        //         go back to this iteration's start and end the iteration.
        double gnorm = 0;
        FusedPpoStats fs;
        Step st;
        if (fused_) {
          fs = fused_->loss_and_grad(flat_.data.data_ptr<float>(), fused_inputs(mb), kl_coeff,
                                     flat_.grad.data_ptr<float>());
          st = apply_gradient(fs.total, good, gnorm);
        } else {
          const PpoLossTerms t = ppo_loss(model_, spec_, mb, kl_coeff);
          st = guarded_step(t.total, good, gnorm);
          if (st == Step::Taken) {
            fs.policy_loss = t.policy_loss.item<double>();
            fs.vf_loss = t.vf_loss.item<double>();
            fs.entropy = t.entropy.item<double>();
            fs.kl = t.kl.item<double>();
            fs.total = t.total.item<double>();
            fs.approx_kl = t.approx_kl.item<double>();
            fs.clip_frac = t.clip_frac.item<double>();
            s_ev += c.use_critic ? explained_variance(mb.value_targets, t.values.detach()) : 0.0;
          }
        }
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
        if (fused_ && c.use_critic)
          s_ev += explained_variance(mb.value_targets, torch::from_blob(fs.values.data(), {mb.size()}));
        s_policy += fs.policy_loss;
        s_vf += fs.vf_loss;
        s_entropy += fs.entropy;
        s_kl += fs.kl;
        s_total += fs.total;
        s_approx_kl += fs.approx_kl;
        s_clip_frac += fs.clip_frac;
        s_gnorm += gnorm;
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
            {"approx_kl", s_approx_kl / nm}, {"clip_frac", s_clip_frac / nm},
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
  std::unique_ptr<FusedPpo> fused_;  // the hand-written loss and gradient, when it applies
};

}  // namespace

std::unique_ptr<Algorithm> make_ppo(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<Ppo>(spec, seed);
}

}  // namespace tandem::algo
