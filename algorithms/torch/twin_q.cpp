#include "algorithms/torch/twin_q.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

namespace tandem::algo {
namespace {

void init(torch::nn::Linear& l, double gain, at::Generator& gen) {
  at::NoGradGuard no_grad;
  const int64_t rows = l->weight.size(0), cols = l->weight.size(1);
  auto w = torch::randn({std::max(rows, cols), std::min(rows, cols)}, gen, torch::kFloat32);
  auto [q, r] = at::linalg_qr(w, "reduced");
  q = q * torch::diagonal(r).sign();
  l->weight.copy_((rows < cols ? q.t() : q) * gain);
  l->bias.zero_();
}

}  // namespace

QMlpImpl::QMlpImpl(int64_t in, const std::vector<int64_t>& hiddens, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (size_t i = 0; i < hiddens.size(); ++i) {
    hidden_.push_back(register_module("hidden_" + std::to_string(i), torch::nn::Linear(in, hiddens[i])));
    init(hidden_.back(), std::sqrt(2.0), gen);
    in = hiddens[i];
  }
  out_ = register_module("out", torch::nn::Linear(in, 1));
  init(out_, 1.0, gen);
}

torch::Tensor QMlpImpl::forward(const torch::Tensor& obs, const torch::Tensor& action) {
  auto x = torch::cat({obs, action}, 1);
  for (auto& l : hidden_) x = torch::relu(l->forward(x));
  return out_->forward(x).squeeze(-1);
}

TwinQImpl::TwinQImpl(const PolicySpec& spec, uint64_t seed) {
  if (spec.action_space.kind != SpaceKind::Box)
    throw std::invalid_argument("crr: policy '" + spec.policy_id + "' has a " + spec.action_space.describe() +
                                " action space; Tandem's CRR supports Box actions only (use marwil)");
  const int64_t in = spec.observation_space.preprocessed_size() + spec.action_space.raw_size();
  q1_ = register_module("q1", QMlp(in, spec.config.model.fcnet_hiddens, seed));
  if (spec.config.twin_q) q2_ = register_module("q2", QMlp(in, spec.config.model.fcnet_hiddens, seed + 1));
}

torch::Tensor TwinQImpl::min_q(const torch::Tensor& obs, const torch::Tensor& action) {
  auto q = q1_->forward(obs, action);
  return q2_ ? torch::minimum(q, q2_->forward(obs, action)) : q;
}

std::vector<torch::Tensor> TwinQImpl::all_q(const torch::Tensor& obs, const torch::Tensor& action) {
  std::vector<torch::Tensor> out{q1_->forward(obs, action)};
  if (q2_) out.push_back(q2_->forward(obs, action));
  return out;
}

void soft_update(torch::nn::Module& target, const torch::nn::Module& source, double tau) {
  at::NoGradGuard no_grad;
  auto t = target.parameters(), s = source.parameters();
  if (t.size() != s.size()) throw std::logic_error("soft_update: different architectures");
  for (size_t i = 0; i < t.size(); ++i) t[i].mul_(1.0 - tau).add_(s[i], tau);
}

}  // namespace tandem::algo
