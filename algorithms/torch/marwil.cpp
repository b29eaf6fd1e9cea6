// MARWIL: Monotonic Advantage Re-Weighted Imitation Learning (Wang et al. 2018,
// "Exponentially Weighted Imitation Learning for Batched Historical Data"), with RLlib's loss
// (marwil_torch_policy.py). Trains from logged rows only (train_offline); beta = 0 is plain
// behaviour cloning. ONE gradient step on the whole batch per train_offline() call, as
// RLlib's MARWIL (train_one_step without minibatches).
//
// State: the moving average of the squared advantage norm (checkpointed). Learner thread only.
#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <stdexcept>

#include "algorithms/offline_rows.h"
#include "algorithms/torch/algorithms.h"
#include "algorithms/torch/distributions.h"
#include "algorithms/torch/torch_algorithm.h"
#include "algorithms/torch/train_guard.h"

namespace tandem::algo {
namespace {

class Marwil final : public OfflineTorchAlgorithm {
 public:
  Marwil(const PolicySpec& spec, uint64_t seed)
      : OfflineTorchAlgorithm("marwil", spec, seed), ma_sqd_adv_norm_(spec.config.moving_average_sqd_adv_norm_start) {}


  TrainStats train_offline(const core::OfflineBatch& rows, int64_t timesteps_total) override {
    const AlgoConfig& c = spec_.config;
    const int64_t n = rows.count;
    if (n == 0) return {{"num_sgd_steps", 0.0}};
    if (rows.rewards.size() != static_cast<size_t>(n) || rows.new_obs.size() != rows.obs.size())
      throw std::invalid_argument("marwil: offline rows need rewards and new_obs for every row");

    // 1. Discounted returns R_t of each episode piece (rewards, dones), bootstrapped with
    //    V(new_obs) of its last row where it stops before a terminal state.
    const auto segments = offline_segments(rows);
    const std::vector<float> bootstrap = bootstrap_values(rows, segments);
    std::vector<float> returns;
    returns.reserve(static_cast<size_t>(n));
    for (size_t s = 0; s < segments.size(); ++s) {
      const auto& seg = segments[s];
      std::vector<float> r(rows.rewards.begin() + seg.begin, rows.rewards.begin() + seg.end), ret;
      compute_discounted_returns(r, bootstrap[s], seg.terminated, c.gamma, ret);
      returns.insert(returns.end(), ret.begin(), ret.end());
    }

    // 2. The batch as tensors (TorchAlgorithm::to_tensors checks every width against the
    //    spec); the returns are constants.
    const BatchTensors b = to_tensors(as_sample_batch(rows, returns));
    if (auto why = check_batch(b); !why.empty()) return skipped_batch(why);
    const auto good = copy_weights(flat_.list());  // rollback point of the guard
    const bool box = spec_.action_space.kind == SpaceKind::Box;
    const double lr = c.lr_at(timesteps_total);
    set_lr(lr);

    // 3. log pi(a|s) and V(s) under the current parameters.
    model_->train();
    const ModelOutput out = model_->forward(b.obs);
    const ActionDistribution dist(spec_.action_space, out.dist_inputs);
    const auto logp = dist.logp(box ? torch::Tensor() : b.actions, box ? b.actions_cont : torch::Tensor());

    // 4. Advantages A = R - V(s); the moving average of the squared advantage norm,
    //    ma += rate * (mean(A^2) - ma); the weights exp(beta * A / sqrt(ma)) (constants).
    //    beta = 0: behaviour cloning, every weight 1.
    torch::Tensor weights = torch::ones({n});
    if (c.beta != 0.0) {
      const auto adv = (b.value_targets - out.values).detach();
      ma_sqd_adv_norm_ += c.moving_average_sqd_adv_norm_update_rate * (adv.pow(2).mean().item<double>() - ma_sqd_adv_norm_);
      weights = torch::exp(c.beta * adv / (1e-8 + std::sqrt(ma_sqd_adv_norm_)));
    }

    // 5. Loss = -mean(w * (log pi(a|s) + bc_logstd_coeff * mean log_std)) + vf_coeff * 0.5 mean((R - V)^2).
    //    (The value head trains with beta = 0 too: its V bootstraps the returns.)
    torch::Tensor logstd_term = torch::zeros({n});
    if (box && c.bc_logstd_coeff > 0.0) {
      const int64_t d = spec_.action_space.raw_size();
      logstd_term = c.bc_logstd_coeff * out.dist_inputs.slice(1, d, 2 * d).mean(1);
    }
    const auto policy_loss = -(weights * (logp + logstd_term)).mean();
    const auto vf_loss = 0.5 * (b.value_targets - out.values).pow(2).mean();
    const auto total_loss = policy_loss + c.vf_coeff * vf_loss;

    // 6. One gradient step, global-norm clipped and guarded (train_guard.h).
    double gnorm = 0;
    const bool taken = guarded_step(total_loss, good, gnorm) == Step::Taken;

    // 7. Publish the new weights for inference.
    publish();

    const double p_loss = policy_loss.item<double>();
    return {{"policy_loss", p_loss},
            {"imitation_loss", p_loss},
            {"vf_loss", vf_loss.item<double>()},
            {"total_loss", total_loss.item<double>()},
            {"moving_average_sqd_adv_norm", ma_sqd_adv_norm_},
            {"mean_weight", weights.mean().item<double>()},
            {"cur_lr", lr},
            {"grad_gnorm", gnorm},
            {"vf_explained_var", explained_variance(b.value_targets, out.values.detach())},
            {"num_sgd_steps", taken ? 1.0 : 0.0},
            {"num_bad_batches_skipped", 0.0},
            {"num_bad_sgd_steps_skipped", taken ? 0.0 : 1.0}};
  }

 private:
  // V(new_obs) of the last row of every piece that does not end at a terminal state (0 for
  // the others), under the current weights, without gradient.
  std::vector<float> bootstrap_values(const core::OfflineBatch& rows, const std::vector<OfflineSegment>& segments) {
    std::vector<float> out(segments.size(), 0.f);
    std::vector<int64_t> last;
    for (const auto& s : segments)
      if (!s.terminated) last.push_back(s.end - 1);
    if (last.empty()) return out;
    const int64_t obs_dim = spec_.observation_space.preprocessed_size();
    if (rows.obs_dim != obs_dim)
      throw std::invalid_argument("marwil: offline rows have obs_dim " + std::to_string(rows.obs_dim) +
                                  ", policy '" + spec_.policy_id + "' expects " + std::to_string(obs_dim));
    at::NoGradGuard no_grad;
    const auto new_obs = torch::from_blob(const_cast<float*>(rows.new_obs.data()), {rows.count, obs_dim});
    const auto idx = torch::from_blob(last.data(), {static_cast<int64_t>(last.size())}, torch::kInt64);
    model_->eval();
    const auto v = model_->values(new_obs.index_select(0, idx)).contiguous();
    const float* pv = v.data_ptr<float>();
    size_t k = 0;
    for (size_t s = 0; s < segments.size(); ++s)
      if (!segments[s].terminated) out[s] = pv[k++];
    return out;
  }

  // The rows in SampleBatch's form for to_tensors: returns as advantages and value targets
  // (no behaviour values or distribution inputs are needed).
  SampleBatch as_sample_batch(const core::OfflineBatch& rows, const std::vector<float>& returns) const {
    SampleBatch b;
    const auto n = static_cast<size_t>(rows.count);
    b.obs_dim = rows.obs_dim;
    b.count = rows.count;
    b.obs = rows.obs;
    b.actions = rows.actions;
    b.actions_cont = rows.actions_cont;
    b.action_logp.assign(n, 0.f);  // unused by MARWIL: a bad logged value must not skip the batch
    b.vf_preds.assign(n, 0.f);
    b.dist_inputs.assign(n * static_cast<size_t>(model_->dist_dim()), 0.f);
    b.advantages = returns;
    b.value_targets = returns;
    return b;
  }

  void save_state(torch::serialize::OutputArchive& a) const override {
    write_scalar(a, "marwil_moving_average_sqd_adv_norm", ma_sqd_adv_norm_);
  }
  void load_state(torch::serialize::InputArchive& a) override {
    ma_sqd_adv_norm_ = read_scalar(a, "marwil_moving_average_sqd_adv_norm");
  }

  double ma_sqd_adv_norm_;  // moving average of the squared advantage norm
};

}  // namespace

std::unique_ptr<Algorithm> make_marwil(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<Marwil>(spec, seed);
}

}  // namespace tandem::algo
