#include "algorithms/torch/train_guard.h"

#include <cmath>
#include <cstdio>
#include <optional>

#include "core/trajectory.h"

namespace tandem::algo {

namespace {
// Empty when every value of `t` is finite and |x| <= bound (values equal to `exempt`
// excepted). One pass over the floats: this runs after every SGD step (~10 us for a
// [64, 64] actor-critic, against ~1-2 ms for the step; docs/BENCHMARKS.md).
std::string check_tensor(const char* name, const torch::Tensor& t, double bound,
                         std::optional<float> exempt = std::nullopt) {
  if (!t.defined() || t.numel() == 0) return {};
  const auto c = t.detach().to(torch::kFloat32).contiguous();
  const float* d = c.data_ptr<float>();
  const int64_t n = c.numel();
  const auto b = static_cast<float>(bound);
  for (int64_t i = 0; i < n; ++i) {
    const float x = d[i];
    if (std::fabs(x) <= b || (exempt && x == *exempt)) continue;  // NaN fails the comparison
    if (!std::isfinite(x)) return std::string(name) + " has a non-finite value";
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s has a value of magnitude %.3g (bound %.3g)", name, static_cast<double>(std::fabs(x)), bound);
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
