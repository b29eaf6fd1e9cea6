#pragma once
// CRR's critic: Q(s, a) for Box actions, twice (twin_q), each an MLP of fcnet_hiddens over
// the observation concatenated with the action (RLlib's CRR critic; relu as RLlib's
// critic_hidden_activation). LibTorch inside: include only from algorithms/torch/*.cpp.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "algorithms/policy.h"

namespace tandem::algo {

class QMlpImpl : public torch::nn::Module {
 public:
  // Initialised from `seed` (orthogonal: hidden gain sqrt(2), output 1).
  QMlpImpl(int64_t in, const std::vector<int64_t>& hiddens, uint64_t seed);
  torch::Tensor forward(const torch::Tensor& obs, const torch::Tensor& action);  // [B]

 private:
  std::vector<torch::nn::Linear> hidden_;
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(QMlp);

class TwinQImpl : public torch::nn::Module {
 public:
  // Throws std::invalid_argument for a non-Box action space.
  TwinQImpl(const PolicySpec& spec, uint64_t seed);
  torch::Tensor q1(const torch::Tensor& obs, const torch::Tensor& action) { return q1_->forward(obs, action); }
  // min(Q1, Q2) with twin_q, else Q1.
  torch::Tensor min_q(const torch::Tensor& obs, const torch::Tensor& action);
  // Q1 and (twin_q) Q2, for the TD loss.
  std::vector<torch::Tensor> all_q(const torch::Tensor& obs, const torch::Tensor& action);

 private:
  QMlp q1_{nullptr}, q2_{nullptr};
};
TORCH_MODULE(TwinQ);

// target <- tau * source + (1 - tau) * target, parameter by parameter (same architecture).
void soft_update(torch::nn::Module& target, const torch::nn::Module& source, double tau);

}  // namespace tandem::algo
