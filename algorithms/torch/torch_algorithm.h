#pragma once
// What PPO and A2C share: the model and its optimizer, the shuffling rng, batch -> tensor
// conversion, snapshot publishing, and checkpoint save/load.
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "algorithms/policy.h"
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
  // One guarded SGD step on `loss` (train_guard.h): zero_grad, backward, clip, step. Skipped
  // when the loss or the gradient norm is not finite; when the step leaves a weight
  // non-finite or absurd, the weights go back to `good` (their copy at the start of this
  // train() call) and the optimizer state is reset. What went wrong goes to take_problems().
  enum class Step { Taken, Skipped, RolledBack };
  Step guarded_step(const torch::Tensor& loss, const std::vector<torch::Tensor>& good, double& gnorm);
  // The rest of guarded_step for a gradient already in flat_.grad (the fused path): `loss`
  // is its loss value (a non-finite one skips the step).
  Step apply_gradient(double loss, const std::vector<torch::Tensor>& good, double& gnorm);
  // train()'s result for a batch check_batch() refused.
  TrainStats skipped_batch(const std::string& why);
  void note_problem(std::string what);
  // Deep-copies the model into a new immutable snapshot with version + 1.
  void publish();
  // Algorithm-specific state in checkpoints (PPO: kl_coeff).
  virtual void save_state(torch::serialize::OutputArchive&) const {}
  virtual void load_state(torch::serialize::InputArchive&) {}

  const std::string name_;
  const PolicySpec spec_;
  ActorCritic model_;
  FlatParameters flat_;  // model_'s parameters and gradients, as one tensor each
  std::unique_ptr<torch::optim::Optimizer> optimizer_;  // steps flat_.data
  std::mt19937_64 rng_;  // minibatch shuffling
  int64_t version_ = 0;
  std::vector<std::string> problems_;  // for take_problems()

 private:
  void publish_locked_copy();
  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const InferenceModel> snapshot_;
};

}  // namespace tandem::algo
