#include "algorithms/torch/models.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/activation.h>

#include <cmath>
#include <stdexcept>

namespace tandem::algo {
namespace {

// Orthogonal init as torch.nn.init.orthogonal_ (QR of a Gaussian matrix, signs fixed by
// diag(R)), drawn from our own generator so that models are seeded without global state.
torch::Tensor orthogonal(int64_t rows, int64_t cols, double gain, at::Generator& gen) {
  const bool wide = rows < cols;
  auto flat =
      torch::randn(wide ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{rows, cols}, gen,
                   torch::kFloat32);
  auto [q, r] = at::linalg_qr(flat, "reduced");
  q = q * torch::diagonal(r).sign();
  if (wide) q = q.t();
  return (q * gain).contiguous();
}

// RLlib's normc_initializer(std): Gaussian rows rescaled to norm `std` (torch weights are
// [out, in]; RLlib normalises over dim 1).
torch::Tensor normc(int64_t rows, int64_t cols, double std, at::Generator& gen) {
  auto w = torch::randn({rows, cols}, gen, torch::kFloat32);
  return w * (std / w.pow(2).sum(1, /*keepdim=*/true).sqrt());
}

void init_linear(torch::nn::Linear& l, bool use_normc, double gain, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const int64_t rows = l->weight.size(0), cols = l->weight.size(1);
  l->weight.copy_(use_normc ? normc(rows, cols, gain, gen) : orthogonal(rows, cols, gain, gen));
  l->bias.zero_();
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "elu") return Activation::Elu;
  if (name == "linear") return Activation::Linear;
  throw std::invalid_argument("unknown activation '" + name + "'");
}

torch::Tensor apply_activation(Activation a, const torch::Tensor& x) {
  switch (a) {
    case Activation::Tanh:
      return torch::tanh(x);
    case Activation::Relu:
      return torch::relu(x);
    case Activation::Elu:
      return torch::elu(x);
    case Activation::Linear:
      return x;
  }
  return x;
}

ActorCriticImpl::ActorCriticImpl(const Space& observation_space, const Space& action_space,
                                 const ModelConfig& model, std::optional<uint64_t> seed)
    : obs_dim_(observation_space.preprocessed_size()),
      dist_dim_(algo::dist_dim(action_space)),
      act_(parse_activation(model.fcnet_activation)),
      share_(model.vf_share_layers) {
  const bool box = action_space.kind == SpaceKind::Box;
  const bool free_log_std = box && model.free_log_std;
  // Policy head outputs: logits, or means (free_log_std) or means|log_stds.
  const int64_t num_outputs = free_log_std ? dist_dim_ / 2 : dist_dim_;

  int64_t in = obs_dim_;
  for (size_t i = 0; i < model.fcnet_hiddens.size(); ++i) {
    const int64_t out = model.fcnet_hiddens[i];
    pi_hidden.push_back(
        register_module("pi_hidden_" + std::to_string(i), torch::nn::Linear(in, out)));
    in = out;
  }
  pi_out = register_module("pi_out", torch::nn::Linear(in, num_outputs));
  int64_t vin = obs_dim_;
  if (share_) {
    vin = in;
  } else {
    for (size_t i = 0; i < model.fcnet_hiddens.size(); ++i) {
      const int64_t out = model.fcnet_hiddens[i];
      vf_hidden.push_back(
          register_module("vf_hidden_" + std::to_string(i), torch::nn::Linear(vin, out)));
      vin = out;
    }
  }
  vf_out = register_module("vf_out", torch::nn::Linear(vin, 1));
  if (free_log_std) log_std = register_parameter("log_std", torch::zeros({num_outputs}));

  if (!seed) return;
  // Deterministic init from `seed`. orthogonal (CleanRL): hidden gain sqrt(2), policy head
  // 0.01, value head 1.0. normc (RLlib): hidden 1.0, policy head 0.01, value head 0.01.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(*seed);
  const bool use_normc = model.init == "normc";
  const double hidden_gain = use_normc ? 1.0 : std::sqrt(2.0);
  for (auto& l : pi_hidden) init_linear(l, use_normc, hidden_gain, gen);
  init_linear(pi_out, use_normc, 0.01, gen);
  for (auto& l : vf_hidden) init_linear(l, use_normc, hidden_gain, gen);
  init_linear(vf_out, use_normc, use_normc ? 0.01 : 1.0, gen);
}

torch::Tensor ActorCriticImpl::trunk(const std::vector<torch::nn::Linear>& layers,
                                     torch::Tensor x) {
  for (const auto& l : layers) x = apply_activation(act_, l.ptr()->forward(x));
  return x;
}

ModelOutput ActorCriticImpl::forward(const torch::Tensor& obs) {
  auto h = trunk(pi_hidden, obs);
  auto out = pi_out->forward(h);
  if (log_std.defined()) out = torch::cat({out, log_std.expand_as(out)}, 1);
  auto v = vf_out->forward(share_ ? h : trunk(vf_hidden, obs)).squeeze(-1);
  return {out, v};
}

torch::Tensor ActorCriticImpl::values(const torch::Tensor& obs) {
  auto h = share_ ? trunk(pi_hidden, obs) : trunk(vf_hidden, obs);
  return vf_out->forward(h).squeeze(-1);
}

ActorCritic make_model(const PolicySpec& spec, std::optional<uint64_t> seed) {
  return ActorCritic(spec.observation_space, spec.action_space, spec.config.model, seed);
}

ActorCritic clone_model(const PolicySpec& spec, const ActorCritic& src) {
  ActorCritic dst = make_model(spec, std::nullopt);
  copy_weights(src, dst);
  return dst;
}

void copy_weights(const ActorCritic& src, ActorCritic& dst) {
  torch::NoGradGuard no_grad;
  auto sp = src->named_parameters(), dp = dst->named_parameters();
  if (sp.size() != dp.size()) throw std::logic_error("copy_weights: different architectures");
  for (const auto& item : sp) dp[item.key()].copy_(item.value());
  auto sb = src->named_buffers(), db = dst->named_buffers();
  for (const auto& item : sb) db[item.key()].copy_(item.value());
}

}  // namespace tandem::algo
