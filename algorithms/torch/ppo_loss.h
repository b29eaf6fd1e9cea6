#pragma once
// PPO's minibatch loss (Schulman et al. 2017, RLlib's form), in the paper's order and names,
// written once in LibTorch: Ppo::train() uses it for every space and model, and the fused
// path (fused_ppo.h) is tested against its gradients.
#include <torch/torch.h>

#include "algorithms/policy.h"
#include "algorithms/torch/models.h"

namespace tandem::algo {

struct PpoMinibatch {
  torch::Tensor obs, actions, actions_cont, old_logp, old_dist_inputs, vf_preds, value_targets, advantages;
  // Already standardised over the replica group's minibatch (the loss must not do it again).
  bool advantages_standardised = false;
  int64_t size() const { return obs.size(0); }
};

// The terms, as tensors of the autograd graph (total is what backward() runs on).
struct PpoLossTerms {
  torch::Tensor policy_loss, vf_loss, entropy, kl, total;
  torch::Tensor approx_kl;  // CleanRL's mean((ratio - 1) - log ratio), detached
  torch::Tensor clip_frac;  // fraction of samples with |ratio - 1| > clip_param, detached
  torch::Tensor values;     // the critic's outputs
};

PpoLossTerms ppo_loss(ActorCritic& model, const PolicySpec& spec, const PpoMinibatch& mb, double kl_coeff);

}  // namespace tandem::algo
