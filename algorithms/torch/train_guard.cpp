#include "algorithms/torch/train_guard.h"

#include <cstdio>

#include "core/trajectory.h"

namespace tandem::algo {

namespace {
// Empty when `t` is finite and |t| <= bound (values equal to `exempt` excepted).
std::string check_tensor(const char* name, const torch::Tensor& t, double bound,
                         std::optional<float> exempt = std::nullopt) {
  if (!t.defined() || t.numel() == 0) return {};
  auto v = t.to(torch::kFloat64);
  if (exempt) v = torch::where(t == *exempt, torch::zeros_like(v), v);
  if (!torch::isfinite(v).all().item<bool>()) return std::string(name) + " has a non-finite value";
  const double m = v.abs().max().item<double>();
  if (m > bound) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s has a value of magnitude %.3g (bound %.3g)", name, m, bound);
    return buf;
  }
  return {};
}
}  // namespace

std::string check_batch(const BatchTensors& b) {
  for (auto why : {check_tensor("obs", b.obs, kMaxAbsTrainValue),
                   check_tensor("actions_cont", b.actions_cont, kMaxAbsTrainValue),
                   check_tensor("action_logp", b.old_logp, kMaxAbsTrainValue),
                   check_tensor("vf_preds", b.vf_preds, kMaxAbsTrainValue),
                   check_tensor("dist_inputs", b.old_dist_inputs, kMaxAbsTrainValue, core::kMaskedLogit),
                   check_tensor("advantages", b.advantages, kMaxAbsTrainValue),
                   check_tensor("value_targets", b.value_targets, kMaxAbsTrainValue)})
    if (!why.empty()) return why;
  return {};
}

std::string check_weights(const std::vector<torch::Tensor>& params) {
  for (size_t i = 0; i < params.size(); ++i)
    if (auto why = check_tensor("weights", params[i].detach(), kMaxAbsWeight); !why.empty())
      return why + " (parameter " + std::to_string(i) + ")";
  return {};
}

std::vector<torch::Tensor> copy_weights(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  out.reserve(params.size());
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

void restore_weights(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
}

}  // namespace tandem::algo
