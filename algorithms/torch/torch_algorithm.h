#pragma once
// What PPO and A2C share: the model and its optimizer, the shuffling rng, batch -> tensor
// conversion, snapshot publishing, and checkpoint save/load.
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "algorithms/policy.h"
#include "algorithms/replica_group.h"
#include "algorithms/torch/flat_parameters.h"
#include "algorithms/torch/models.h"

namespace tandem::algo {

// A SampleBatch as tensors (CPU, float32 / int64).
struct BatchTensors {
  int64_t n = 0;
  torch::Tensor obs;              // [n, obs_dim]
  torch::Tensor actions;          // [n, k] int64 (Discrete k = 1, MultiDiscrete k = nvec.size())
  torch::Tensor actions_cont;     // [n, d] (Box)
  torch::Tensor old_logp;         // [n]    behaviour log-prob
  torch::Tensor vf_preds;         // [n]    behaviour value estimates
  torch::Tensor old_dist_inputs;  // [n, dist_dim] behaviour distribution inputs (carry the mask)
  torch::Tensor advantages;       // [n]
  torch::Tensor value_targets;    // [n]
};

// RLlib's explained_variance: max(-1, 1 - Var[y - pred] / Var[y]).
double explained_variance(const torch::Tensor& y, const torch::Tensor& pred);

class TorchAlgorithm : public Algorithm {
 public:
  TorchAlgorithm(std::string name, const PolicySpec& spec, uint64_t seed);

  const std::string& name() const override { return name_; }
  const PolicySpec& spec() const override { return spec_; }
  std::shared_ptr<const InferenceModel> snapshot() const override;
  void save(const std::string& path) const override;
  void load(const std::string& path) override;
  std::vector<std::string> take_problems() override;

 protected:
  // Checks `batch` against the spec and converts it (copies; nothing aliases the batch).
  BatchTensors to_tensors(const SampleBatch& batch) const;
  void set_lr(double lr);
  // Global grad norm before clipping; clips to grad_clip when grad_clip > 0.
  double clip_gradients();
  // --- In a replica group (join_group; algorithms/replica_group.h). Alone these are local. ---
  // The batch to train on: `batch` as tensors, or, in a group, an empty one when it is empty or
  // refused (a rank never leaves the collectives of an iteration: the others would wait).
  // Alone a refused batch is returned as nullopt with `why` set.
  std::optional<BatchTensors> batch_for_training(const SampleBatch& batch, std::string& why);
  // The group's total of a local count (alone: n). A collective.
  int64_t group_rows(int64_t n);
  // Advantages standardised, (adv - mean) / (std + 1e-8), with the mean and unbiased standard
  // deviation over the rows of every rank (alone: its own; fewer than 2 rows: unchanged).
  // group_mean_std does it for several parts (PPO: an epoch's minibatches) in ONE collective.
  struct MeanStd {
    double mean = 0, std = 1;
    bool apply = false;  // at least 2 rows
  };
  std::vector<MeanStd> group_mean_std(const std::vector<torch::Tensor>& parts);
  static torch::Tensor standardised(const torch::Tensor& adv, const MeanStd& s);
  torch::Tensor standardise(const torch::Tensor& adv) {
    if (!group_) return adv.size(0) > 1 ? (adv - adv.mean()) / (adv.std() + 1e-8) : adv;
    return standardised(adv, group_mean_std({adv})[0]);
  }
  // What one SGD step adds to the group: this rank's rows and the per-row means of its step
  // statistics; apply_gradient turns them into the group's rows and means.
  struct StepShare {
    double rows = 0;
    std::vector<double> stats;
  };
  // Adam's gradient: flat_.grad <- sum_r rows_r * grad_r / sum_r rows_r, and the loss and
  // share.stats likewise; identical bits on every rank. A collective.
  void share_gradient(double& loss, StepShare& share);
  // train()'s group statistics: group_rows (the group's batch), group_allreduce_s (time in
  // all-reduces since `before`, waiting for slower ranks included) and
  // group_allreduce_ms_per_sgd_step (that over `steps`).
  void add_group_stats(TrainStats& out, const GroupTimes& before, int64_t group_n, int64_t steps) const;
  // One guarded SGD step on `loss` (train_guard.h): zero_grad, backward, clip, step. Skipped
  // when the loss or the gradient norm is not finite; when the step leaves a weight
  // non-finite or absurd, the weights go back to `good` (their copy at the start of this
  // train() call) and the optimizer state is reset. What went wrong goes to take_problems().
  // In a group (`share` required there) the gradient, the loss and the statistics are first
  // the group's (share_gradient), so every rank takes the same decision; Idle: no rank had a
  // row for this step.
  enum class Step { Taken, Skipped, RolledBack, Idle };
  Step guarded_step(const torch::Tensor& loss, const std::vector<torch::Tensor>& good, double& gnorm,
                    StepShare* share = nullptr);
  // The rest of guarded_step for a gradient already in flat_.grad (the fused path, or zero for
  // a rank without rows): `loss` is its loss value (a non-finite one skips the step).
  Step apply_gradient(double loss, const std::vector<torch::Tensor>& good, double& gnorm,
                      StepShare* share = nullptr);
  // train()'s result for a batch check_batch() refused.
  TrainStats skipped_batch(const std::string& why);
  void note_problem(std::string what);
  // Deep-copies the model into a new immutable snapshot with version + 1.
  void publish();
  // Algorithm-specific state in checkpoints (PPO: kl_coeff).
  virtual void save_state(torch::serialize::OutputArchive&) const {}
  virtual void load_state(torch::serialize::InputArchive&) {}
  // One double of that state under `key` (PPO's kl_coeff, MARWIL's moving average).
  static void write_scalar(torch::serialize::OutputArchive& a, const char* key, double v) {
    a.write(key, torch::tensor(v, torch::kFloat64));
  }
  static double read_scalar(torch::serialize::InputArchive& a, const char* key) {
    torch::Tensor t;
    a.read(key, t);
    return t.item<double>();
  }

  const std::string name_;
  const PolicySpec spec_;
  ActorCritic model_;
  FlatParameters flat_;  // model_'s parameters and gradients, as one tensor each
  std::unique_ptr<torch::optim::Optimizer> optimizer_;  // steps flat_.data
  std::mt19937_64 rng_;  // minibatch shuffling
  int64_t version_ = 0;
  std::vector<std::string> problems_;  // for take_problems()
  ReplicaGroup* group_ = nullptr;      // join_group (PPO, A2C); null alone
  std::vector<float> group_buf_;       // share_gradient's all-reduce buffer

 private:
  void publish_locked_copy();
  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const InferenceModel> snapshot_;
};

// An algorithm that trains from offline rows only (MARWIL, CRR; config `input`): online
// train() refuses.
class OfflineTorchAlgorithm : public TorchAlgorithm {
 public:
  using TorchAlgorithm::TorchAlgorithm;
  TrainStats train(const SampleBatch&, int64_t) override {
    throw std::invalid_argument(name_ + " trains from offline data only: set the server's 'input' (docs/OFFLINE.md)");
  }
  bool trains_offline() const override { return true; }
};

}  // namespace tandem::algo
