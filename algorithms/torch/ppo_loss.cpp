#include "algorithms/torch/ppo_loss.h"

#include "algorithms/torch/distributions.h"

namespace tandem::algo {

PpoLossTerms ppo_loss(ActorCritic& model, const PolicySpec& spec, const PpoMinibatch& mb, double kl_coeff) {
  const AlgoConfig& c = spec.config;
  PpoLossTerms t;
  // --- New log-probs, entropy and values under the current parameters.
  const ModelOutput out = model->forward(mb.obs);
  const ActionDistribution old_dist(spec.action_space, mb.old_dist_inputs);
  // The behaviour policy's action mask (in its dist_inputs) applies to the new logits.
  const ActionDistribution new_dist(spec.action_space, out.dist_inputs, mb.old_dist_inputs);
  const auto newlogp = new_dist.logp(mb.actions, mb.actions_cont);
  t.entropy = new_dist.entropy().mean();

  // --- Probability ratio r = pi_new(a|s) / pi_old(a|s). (The log-ratio is clamped to +-20
  //     so that exp() stays finite; the clipped objective is flat there anyway.)
  const auto logratio = (newlogp - mb.old_logp).clamp(-20.0, 20.0);
  const auto ratio = logratio.exp();
  {
    torch::NoGradGuard no_grad;
    t.approx_kl = ((ratio - 1) - logratio).mean();
    t.clip_frac = ((ratio - 1.0).abs() > c.clip_param).to(torch::kFloat32).mean();
  }

  // --- KL(pi_old || pi_new), for the adaptive penalty (and as a statistic).
  t.kl = old_dist.kl(new_dist).mean();

  // --- Advantages, standardised per minibatch if asked.
  auto adv = mb.advantages;
  if (c.normalize_advantages && !mb.advantages_standardised && adv.size(0) > 1) adv = (adv - adv.mean()) / (adv.std() + 1e-8);

  // --- Clipped surrogate objective (maximised, so the loss is its negative).
  const auto surr1 = adv * ratio;
  const auto surr2 = adv * torch::clamp(ratio, 1.0 - c.clip_param, 1.0 + c.clip_param);
  t.policy_loss = -torch::min(surr1, surr2).mean();

  // --- Value loss, clipped around the behaviour values (PPO2 / RLlib 0.x style).
  t.values = out.values;
  t.vf_loss = torch::zeros({});
  if (c.use_critic) {
    const auto& v = out.values;
    const auto vf_loss1 = (v - mb.value_targets).pow(2);
    if (c.vf_clip_param > 0) {
      const auto v_clipped = mb.vf_preds + torch::clamp(v - mb.vf_preds, -c.vf_clip_param, c.vf_clip_param);
      const auto vf_loss2 = (v_clipped - mb.value_targets).pow(2);
      t.vf_loss = torch::max(vf_loss1, vf_loss2).mean();
    } else {
      t.vf_loss = vf_loss1.mean();
    }
  }

  // --- Total loss (RLlib): -surrogate + kl_coeff * KL + vf_loss_coeff * vf_loss
  //     - entropy_coeff * entropy.
  t.total = t.policy_loss + c.vf_loss_coeff * t.vf_loss - c.entropy_coeff * t.entropy;
  if (kl_coeff > 0) t.total = t.total + kl_coeff * t.kl;
  return t;
}

}  // namespace tandem::algo
