#pragma once
// The immutable, versioned policy snapshot that serves actions.
//
// It owns a deep copy of the network. compute_actions runs the forward pass, then masks,
// samples / takes the mode and computes log-probs in plain C++ with the caller's rng.
// Forward pass: small batches run a plain-C++ MLP over weights copied out of the module
// at construction (no dispatcher overhead: a few µs for batch 1); larger batches run the
// torch module under torch::InferenceMode (BLAS). Both compute the same function.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "algorithms/policy.h"
#include "algorithms/torch/models.h"
#include "core/model_description.h"

namespace tandem::algo {

class TorchInferenceModel final : public InferenceModel {
 public:
  // Takes ownership of `model` (must not be modified afterwards by anyone).
  TorchInferenceModel(const PolicySpec& spec, ActorCritic model, int64_t version);

  int64_t version() const override { return version_; }
  void compute_actions(std::span<const float> obs, int64_t batch, std::span<const float> masks,
                       std::span<const uint8_t> explore, std::mt19937_64& rng,
                       std::vector<ActionResult>& out) const override;
  void compute_values(std::span<const float> obs, int64_t batch,
                      std::vector<float>& out) const override;
  std::shared_ptr<const core::WeightTensors> weights() const override;
  std::string serialize_weights() const override;

  // Forward pass only: dist_inputs (batch * dist_dim) and values (batch, when non-null).
  // `path` forces the plain or the torch path (tests compare them); Auto picks by cost.
  enum class Path { Auto, Plain, Torch };
  void forward(std::span<const float> obs, int64_t batch, std::vector<float>& dist_inputs,
               std::vector<float>* values, Path path = Path::Auto) const;

 private:
  struct Dense {
    int64_t in = 0, out = 0;
    std::vector<float> wt;  // [in][out] (transposed: the inner loop is a vectorisable axpy)
    std::vector<float> b;   // [out]
  };
  static std::vector<Dense> extract(const std::vector<torch::nn::Linear>& hidden,
                                    const torch::nn::Linear& head);
  bool use_plain(int64_t batch) const;
  static void dense(const Dense& d, const float* in, float* out);
  const float* trunk(const std::vector<Dense>& layers, const float* x, std::vector<float>& buf_a,
                     std::vector<float>& buf_b) const;

  Space action_space_;
  int64_t obs_dim_, dist_dim_, version_;
  Activation act_;
  bool share_;
  ActorCritic model_;
  std::vector<Dense> pi_, vf_;  // plain copies (hidden layers, then the head); vf_ is
                                // only the head when share_
  std::vector<float> log_std_;  // free log_std (Box), else empty
  int64_t macs_per_sample_ = 0;
  std::vector<core::TensorSpec> tensor_specs_;  // core::model_tensors(spec)
  mutable std::once_flag blob_once_, tensors_once_;
  mutable std::string blob_;
  mutable std::shared_ptr<const core::WeightTensors> tensors_;
};

}  // namespace tandem::algo
