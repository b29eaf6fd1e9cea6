#pragma once
// Action distributions over dist_inputs tensors, for training (differentiable):
//   Categorical      (Discrete)       logits [B, n], optional action mask
//   MultiCategorical (MultiDiscrete)  concatenated logits, a Categorical per component;
//                                     logp / entropy / kl are sums over the components
//   DiagGaussian     (Box)            mean [B, d] then log_std [B, d]
// Inference samples in plain C++ (inference_model.cpp), not here.
#include <ATen/core/Tensor.h>

#include <vector>

#include "algorithms/policy.h"

namespace tandem::algo {

class ActionDistribution {
 public:
  // `dist_inputs`: [B, dist_dim]. `mask_source`: undefined, or behaviour dist_inputs of the
  // same shape whose masked logits (<= kMaskedLogit / 2) mask the same logits here.
  ActionDistribution(const Space& action_space, const at::Tensor& dist_inputs,
                     const at::Tensor& mask_source = {});

  // log pi(a). discrete: [B, k] int64 (k = 1 or nvec.size()); continuous: [B, d]. -> [B]
  at::Tensor logp(const at::Tensor& discrete, const at::Tensor& continuous) const;
  at::Tensor entropy() const;                            // [B]
  at::Tensor kl(const ActionDistribution& other) const;  // KL(this || other), [B]

 private:
  SpaceKind kind_;
  std::vector<at::Tensor> log_probs_;  // categorical: log_softmax of each component [B, n_i]
  at::Tensor mean_, log_std_;          // Box
};

}  // namespace tandem::algo
