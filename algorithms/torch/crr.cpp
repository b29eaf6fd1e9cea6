// CRR: Critic Regularized Regression (Wang et al. 2020), with RLlib's CRR loss and defaults,
// for Box actions. Trains from logged rows only (train_offline); per call, on the whole batch:
// one critic step (twin Q, TD targets from target networks), one actor step (advantage-
// weighted log-likelihood of the logged actions), then soft target updates.
//
// Models: the actor is TorchAlgorithm's ActorCritic (its policy head; snapshots serve it);
// the critic is TwinQ (twin_q.h) with its own Adam (critic_lr); the target actor and target
// critic are copies, updated softly with tau. State: all four networks (checkpointed; the
// critic's optimizer moments are not). Learner thread only.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "algorithms/torch/algorithms.h"
#include "algorithms/torch/distributions.h"
#include "algorithms/torch/torch_algorithm.h"
#include "algorithms/torch/train_guard.h"
#include "algorithms/torch/twin_q.h"

namespace tandem::algo {
namespace {

class Crr final : public OfflineTorchAlgorithm {
 public:
  Crr(const PolicySpec& spec, uint64_t seed)
      : OfflineTorchAlgorithm("crr", spec, seed),
        critic_(spec, seed + 101),
        target_critic_(spec, seed + 101),
        target_actor_(clone_model(spec, model_)),
        critic_opt_(critic_->parameters(), torch::optim::AdamOptions(spec.config.critic_lr)),
        gen_(at::make_generator<at::CPUGeneratorImpl>(seed + 7)) {
    soft_update(*target_critic_, *critic_, 1.0);  // identical at the start
    const auto& as = spec.action_space;
    const int64_t d = as.raw_size();
    low_ = as.low.empty() ? torch::full({d}, -1e30f) : torch::tensor(as.low);
    high_ = as.high.empty() ? torch::full({d}, 1e30f) : torch::tensor(as.high);
  }


  TrainStats train_offline(const core::OfflineBatch& rows, int64_t timesteps_total) override {
    const AlgoConfig& c = spec_.config;
    const int64_t n = rows.count;
    if (n == 0) return {{"num_sgd_steps", 0.0}};
    const int64_t obs_dim = spec_.observation_space.preprocessed_size(), d = spec_.action_space.raw_size();
    if (rows.obs_dim != obs_dim || rows.actions_cont.size() != static_cast<size_t>(n * d) ||
        rows.new_obs.size() != rows.obs.size() || rows.rewards.size() != static_cast<size_t>(n))
      throw std::invalid_argument("crr: offline rows do not fit policy '" + spec_.policy_id + "' (obs " +
                                  std::to_string(obs_dim) + " floats, actions " + std::to_string(d) + ")");

    // 1. The batch as tensors: s, a, r, s', and 1 - terminated (truncated rows bootstrap).
    const auto s = torch::from_blob(const_cast<float*>(rows.obs.data()), {n, obs_dim}).clone();
    const auto s2 = torch::from_blob(const_cast<float*>(rows.new_obs.data()), {n, obs_dim}).clone();
    const auto a = torch::from_blob(const_cast<float*>(rows.actions_cont.data()), {n, d}).clone();
    const auto r = torch::from_blob(const_cast<float*>(rows.rewards.data()), {n}).clone();
    auto not_terminal = torch::ones({n});
    for (int64_t i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i);
      const bool done = k < rows.dones.size() && rows.dones[k];
      const bool truncated = k < rows.truncateds.size() && rows.truncateds[k];
      if (done && !truncated) not_terminal[i] = 0.f;
    }
    const double lr = c.lr_at(timesteps_total);
    set_lr(lr);
    const auto good = copy_weights(flat_.list());  // rollback point of the actor's guard

    // 2. Critic: y = r + gamma * (1 - terminal) * min_i Q_i'(s', a'), a' ~ pi'(s') (targets);
    //    loss = mean over both heads of 0.5 (Q_i(s, a) - y)^2; one Adam step (critic_lr).
    torch::Tensor y;
    {
      at::NoGradGuard no_grad;
      const auto a2 = sample(target_actor_->forward(s2).dist_inputs);
      y = r + c.gamma * not_terminal * target_critic_->min_q(s2, a2);
    }
    std::vector<torch::Tensor> td;
    for (const auto& q : critic_->all_q(s, a)) td.push_back(q - y);
    const auto critic_loss = 0.5 * torch::cat(td).pow(2).mean();
    critic_opt_.zero_grad();
    double critic_gnorm = 0;
    bool critic_taken = false;
    if (std::isfinite(critic_loss.item<double>())) {
      critic_loss.backward();
      critic_gnorm = torch::nn::utils::clip_grad_norm_(
          critic_->parameters(), c.grad_clip > 0 ? c.grad_clip : std::numeric_limits<double>::infinity());
      if (std::isfinite(critic_gnorm)) {
        critic_opt_.step();
        critic_taken = true;
      }
    }

    // 3. Advantages A = Q(s, a) - V(s), V(s) the mean or max of Q(s, a_j) over
    //    n_action_sample actions a_j ~ pi(s), Q = min(Q1, Q2) (RLlib's _get_q_value); the weights
    //    bin: 1[A > 0], exp: min(exp(A / temperature), max_weight). Constants.
    torch::Tensor adv, weights;
    {
      at::NoGradGuard no_grad;
      const auto pi_inputs = model_->forward(s).dist_inputs;
      std::vector<torch::Tensor> qs;
      for (int64_t j = 0; j < c.n_action_sample; ++j) qs.push_back(critic_->min_q(s, sample(pi_inputs)));
      const auto q_samples = torch::stack(qs, 1);  // [n, n_action_sample]
      const auto v = c.advantage_type == "max" ? std::get<0>(q_samples.max(1)) : q_samples.mean(1);
      adv = critic_->min_q(s, a) - v;
      weights = c.weight_type == "bin" ? (adv > 0).to(torch::kFloat32)
                                       : torch::exp(adv / c.temperature).clamp_max(c.max_weight);
    }

    // 4. Actor: loss = -mean(w * log pi(a|s)); one guarded step (train_guard.h).
    model_->train();
    const ActionDistribution dist(spec_.action_space, model_->forward(s).dist_inputs);
    const auto actor_loss = -(weights * dist.logp(torch::Tensor(), a)).mean();
    double gnorm = 0;
    const bool taken = guarded_step(actor_loss, good, gnorm) == Step::Taken;

    // 5. Soft target updates, every iteration (RLlib updates its targets every
    //    target_network_update_freq sampled steps; Tandem has no such key: docs/OFFLINE.md).
    soft_update(*target_actor_, *model_, c.tau);
    soft_update(*target_critic_, *critic_, c.tau);

    // 6. Publish the new actor weights for inference.
    publish();

    return {{"policy_loss", actor_loss.item<double>()},
            {"actor_loss", actor_loss.item<double>()},
            {"critic_loss", critic_loss.item<double>()},
            {"mean_td_target", y.mean().item<double>()},
            {"mean_advantage", adv.mean().item<double>()},
            {"mean_weight", weights.mean().item<double>()},
            {"cur_lr", lr},
            {"critic_lr", c.critic_lr},
            {"grad_gnorm", gnorm},
            {"critic_grad_gnorm", critic_gnorm},
            {"num_sgd_steps", taken ? 1.0 : 0.0},
            {"num_critic_steps", critic_taken ? 1.0 : 0.0},
            {"num_bad_batches_skipped", 0.0},
            {"num_bad_sgd_steps_skipped", taken ? 0.0 : 1.0}};
  }

 private:
  // a ~ N(mean, exp(log_std)) from dist_inputs [mean | log_std], clamped to the action bounds.
  torch::Tensor sample(const torch::Tensor& dist_inputs) {
    const int64_t d = dist_inputs.size(1) / 2;
    const auto mean = dist_inputs.slice(1, 0, d), log_std = dist_inputs.slice(1, d, 2 * d);
    const auto eps = torch::randn(mean.sizes(), gen_, torch::kFloat32);
    return torch::maximum(torch::minimum(mean + log_std.exp() * eps, high_), low_);
  }

  void save_state(torch::serialize::OutputArchive& a) const override {
    auto write = [&](const char* key, const torch::nn::Module& m) {
      torch::serialize::OutputArchive sub;
      m.save(sub);
      a.write(key, sub);
    };
    write("crr_critic", *critic_);
    write("crr_target_critic", *target_critic_);
    write("crr_target_actor", *target_actor_);
  }
  void load_state(torch::serialize::InputArchive& a) override {
    auto read = [&](const char* key, torch::nn::Module& m) {
      torch::serialize::InputArchive sub;
      a.read(key, sub);
      m.load(sub);
    };
    read("crr_critic", *critic_);
    read("crr_target_critic", *target_critic_);
    read("crr_target_actor", *target_actor_);
  }

  TwinQ critic_, target_critic_;
  ActorCritic target_actor_;
  torch::optim::Adam critic_opt_;
  at::Generator gen_;  // action samples
  torch::Tensor low_, high_;
};

}  // namespace

std::unique_ptr<Algorithm> make_crr(const PolicySpec& spec, uint64_t seed) {
  return std::make_unique<Crr>(spec, seed);
}

}  // namespace tandem::algo
