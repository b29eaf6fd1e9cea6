// TorchAlgorithm's part in a replica group (algorithms/replica_group.h; docs/ARCHITECTURE.md,
// "Past one machine"): the batch every rank trains on (possibly empty), the group's row
// count, advantage statistics over the group, and the gradient average of one SGD step.
// Alone (group_ null) each is the local computation. Learner thread.
#include <cmath>
#include <span>

#include "algorithms/torch/torch_algorithm.h"
#include "algorithms/torch/train_guard.h"

namespace tandem::algo {

std::optional<BatchTensors> TorchAlgorithm::batch_for_training(const SampleBatch& batch, std::string& why) {
  why.clear();
  if (batch.count > 0) {
    try {
      BatchTensors b = to_tensors(batch);
      why = check_batch(b);
      if (why.empty()) return b;
    } catch (const std::invalid_argument& e) {
      if (!group_) throw;
      why = e.what();
    }
    if (!group_) return std::nullopt;
    note_problem("train batch left out of the group's step (this rank adds no rows): " + why);
  } else if (!group_) {
    return std::nullopt;
  }
  SampleBatch none;
  none.obs_dim = spec_.observation_space.preprocessed_size();
  return to_tensors(none);
}

int64_t TorchAlgorithm::group_rows(int64_t n) {
  if (!group_) return n;
  double v = static_cast<double>(n);
  group_->sum(std::span<double>(&v, 1));
  return static_cast<int64_t>(v);
}

std::vector<TorchAlgorithm::MeanStd> TorchAlgorithm::group_mean_std(const std::vector<torch::Tensor>& parts) {
  std::vector<MeanStd> out(parts.size());
  if (!group_) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto& a = parts[i];
      if (a.size(0) < 2) continue;
      out[i] = {a.mean().item<double>(), a.std().item<double>(), true};
    }
    return out;
  }
  // Per part: sum, sum of squares and count over the group, in double.
  std::vector<double> s(3 * parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto a = parts[i].to(torch::kFloat64);
    s[3 * i] = a.sum().item<double>();
    s[3 * i + 1] = (a * a).sum().item<double>();
    s[3 * i + 2] = static_cast<double>(a.size(0));
  }
  group_->sum(std::span<double>(s));
  for (size_t i = 0; i < parts.size(); ++i) {
    const double n = s[3 * i + 2];
    if (n < 2) continue;
    const double mean = s[3 * i] / n;
    out[i] = {mean, std::sqrt(std::max(0.0, (s[3 * i + 1] - n * mean * mean) / (n - 1))), true};
  }
  return out;
}

torch::Tensor TorchAlgorithm::standardised(const torch::Tensor& adv, const MeanStd& s) {
  if (!s.apply) return adv;
  return (adv - s.mean) / (s.std + 1e-8);
}

void TorchAlgorithm::add_group_stats(TrainStats& out, const GroupTimes& before, int64_t group_n,
                                     int64_t steps) const {
  const GroupTimes now = group_->times();
  const double s = now.allreduce_s - before.allreduce_s;
  out["group_rows"] = static_cast<double>(group_n);
  out["group_allreduce_s"] = s;
  out["group_allreduce_ms_per_sgd_step"] = steps > 0 ? 1000.0 * s / static_cast<double>(steps) : 0.0;
}

void TorchAlgorithm::share_gradient(double& loss, StepShare& share) {
  const int64_t p = flat_.grad.numel();
  const size_t k = share.stats.size();
  group_buf_.assign(static_cast<size_t>(p) + 2 + k, 0.0f);
  const double w = share.rows;
  if (w > 0) {
    const float* g = flat_.grad.data_ptr<float>();
    const auto wf = static_cast<float>(w);
    for (int64_t i = 0; i < p; ++i) group_buf_[static_cast<size_t>(i)] = g[i] * wf;
    group_buf_[static_cast<size_t>(p)] = wf;
    group_buf_[static_cast<size_t>(p) + 1] = static_cast<float>(loss * w);
    for (size_t i = 0; i < k; ++i) group_buf_[static_cast<size_t>(p) + 2 + i] = static_cast<float>(share.stats[i] * w);
  }
  group_->sum(std::span<float>(group_buf_));
  const float rows = group_buf_[static_cast<size_t>(p)];
  share.rows = rows;
  float* g = flat_.grad.data_ptr<float>();
  if (rows <= 0) {
    flat_.grad.zero_();
    loss = 0;
    return;
  }
  for (int64_t i = 0; i < p; ++i) g[i] = group_buf_[static_cast<size_t>(i)] / rows;
  loss = group_buf_[static_cast<size_t>(p) + 1] / rows;
  for (size_t i = 0; i < k; ++i) share.stats[i] = group_buf_[static_cast<size_t>(p) + 2 + i] / rows;
}

}  // namespace tandem::algo
