#include "algorithms/torch/distributions.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "algorithms/sample_batch.h"

namespace tandem::algo {

ActionDistribution::ActionDistribution(const Space& space, const at::Tensor& dist_inputs,
                                       const at::Tensor& mask_source)
    : kind_(space.kind) {
  if (kind_ == SpaceKind::Box) {
    const int64_t d = space.raw_size();
    mean_ = dist_inputs.slice(1, 0, d);
    log_std_ = dist_inputs.slice(1, d, 2 * d);
    return;
  }
  at::Tensor logits = dist_inputs;
  if (mask_source.defined()) {
    // Re-apply the behaviour policy's action mask; masked logits get no gradient.
    auto masked = mask_source <= (kMaskedLogit / 2);
    logits = at::where(masked, at::full({}, kMaskedLogit, logits.options()), logits);
  }
  const std::vector<int64_t> sizes =
      kind_ == SpaceKind::Discrete ? std::vector<int64_t>{space.n} : space.nvec;
  int64_t off = 0;
  for (int64_t n : sizes) {
    log_probs_.push_back(at::log_softmax(logits.slice(1, off, off + n), 1));
    off += n;
  }
}

at::Tensor ActionDistribution::logp(const at::Tensor& discrete,
                                    const at::Tensor& continuous) const {
  if (kind_ == SpaceKind::Box) {
    // sum_i  -0.5 z_i^2 - log_std_i - 0.5 log(2 pi)
    auto z = (continuous - mean_) * at::exp(-log_std_);
    return (-0.5 * z * z - log_std_ - 0.5 * std::log(2.0 * std::numbers::pi)).sum(1);
  }
  at::Tensor out;
  for (size_t i = 0; i < log_probs_.size(); ++i) {
    auto a = discrete.select(1, static_cast<int64_t>(i)).unsqueeze(1);
    auto lp = log_probs_[i].gather(1, a).squeeze(1);
    out = out.defined() ? out + lp : lp;
  }
  return out;
}

at::Tensor ActionDistribution::entropy() const {
  if (kind_ == SpaceKind::Box)  // sum_i log_std_i + 0.5 log(2 pi e)
    return (log_std_ + 0.5 * std::log(2.0 * std::numbers::pi * std::numbers::e)).sum(1);
  at::Tensor out;
  for (const auto& lp : log_probs_) {
    // -sum p log p; masked entries have p == 0 exactly and finite log p: they add 0.
    auto h = -(lp.exp() * lp).sum(1);
    out = out.defined() ? out + h : h;
  }
  return out;
}

at::Tensor ActionDistribution::kl(const ActionDistribution& other) const {
  if (kind_ != other.kind_ || log_probs_.size() != other.log_probs_.size())
    throw std::logic_error("ActionDistribution::kl: different distribution types");
  if (kind_ == SpaceKind::Box) {
    // KL(N(m0, s0) || N(m1, s1)) = log s1 - log s0 + (s0^2 + (m0 - m1)^2) / (2 s1^2) - 1/2
    auto var0 = at::exp(2 * log_std_), var1 = at::exp(2 * other.log_std_);
    return (other.log_std_ - log_std_ + (var0 + (mean_ - other.mean_).pow(2)) / (2 * var1) - 0.5)
        .sum(1);
  }
  at::Tensor out;
  for (size_t i = 0; i < log_probs_.size(); ++i) {
    // sum_a p0(a) (log p0(a) - log p1(a))
    auto k = (log_probs_[i].exp() * (log_probs_[i] - other.log_probs_[i])).sum(1);
    out = out.defined() ? out + k : k;
  }
  return out;
}

}  // namespace tandem::algo
