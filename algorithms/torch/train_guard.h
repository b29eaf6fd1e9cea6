#pragma once
// The learner's guard against poisoned data (docs/SECURITY.md): what PPO and A2C check
// before and after every SGD step, so that no batch a client can craft leaves the weights
// non-finite. The request checks bound every value a client sends; this is the second line.
//
//   check_batch(b)    before training on a batch: every tensor finite and within
//                     kMaxAbsTrainValue (masked logits, kMaskedLogit, excepted); a bad batch
//                     is skipped whole
//   check_weights(ps) after a step: every weight finite and within kMaxAbsWeight; a bad step
//                     is rolled back (TorchAlgorithm::guarded_step)
#include <torch/types.h>

#include <string>
#include <vector>

#include "algorithms/torch/torch_algorithm.h"

namespace tandem::algo {

constexpr double kMaxAbsTrainValue = 1e12;  // observations, log-probs, values, advantages, targets
constexpr double kMaxAbsWeight = 1e6;       // no trained MLP weight comes near this

// Empty when the batch is fit to train on, else what is wrong with it (tensor and value).
std::string check_batch(const BatchTensors& b);
// Empty when every parameter is finite and within kMaxAbsWeight, else which is not.
std::string check_weights(const std::vector<torch::Tensor>& params);

// Detached copies of the parameters, and writing them back (no autograd).
std::vector<torch::Tensor> copy_weights(const std::vector<torch::Tensor>& params);
void restore_weights(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& saved);

}  // namespace tandem::algo
