#pragma once
// A model's parameters as views into ONE flat tensor, and their gradients as views into one
// flat gradient. The optimizer, the gradient clipping and the learner's guard then run a few
// ops on one tensor instead of a few per parameter tensor: for the small MLPs of RL, LibTorch's
// per-op cost, not arithmetic, is most of an SGD step (docs/BENCHMARKS.md, "Learner").
//
// Autograd accumulates each parameter's gradient in place into its view (the gradients are
// defined before the first backward and zeroed in place, never reset to undefined), so
// `grad` always holds the whole gradient after backward().
#include <torch/torch.h>

#include <vector>

#include "algorithms/torch/models.h"

namespace tandem::algo {

struct FlatParameters {
  torch::Tensor data;  // [total]: every parameter's values; data.grad() is `grad`
  torch::Tensor grad;  // [total]
  // What the optimizer, clip_grad_norm_ and the guard take.
  std::vector<torch::Tensor> list() const { return {data}; }
};

// Moves the model's parameter values into one flat buffer and makes each parameter (and its
// gradient) a view of it. Call again after anything replaced a parameter's storage (Module::load).
FlatParameters flatten_parameters(ActorCritic& model);

}  // namespace tandem::algo
