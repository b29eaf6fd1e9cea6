#pragma once
// PPO's minibatch loss AND its gradient by hand, for the common case: a Discrete action space
// and separate actor and critic MLPs (tanh or relu). One sgemm per matrix product on the flat
// parameter buffer (flat_parameters.h), no LibTorch op: for CartPole's [64, 64] networks,
// LibTorch's per-op cost is most of a minibatch step, this path is close to the arithmetic.
// It computes exactly ppo_loss() (ppo_loss.h) and the gradient autograd would: masks, the
// log-ratio clamp, the clipped surrogate, the clipped value loss, entropy and KL terms, and
// LibTorch's tie rules for min/max/clamp (tests/fused_ppo_test.cpp checks the gradients).
//
// Not thread-safe (its buffers are reused): one per algorithm, used by the learner thread.
#include <cstdint>
#include <vector>

#include "algorithms/policy.h"
#include "algorithms/torch/models.h"
#include "algorithms/torch/ppo_loss.h"

namespace tandem::algo {

struct FusedPpoStats {
  double policy_loss = 0, vf_loss = 0, entropy = 0, kl = 0, total = 0, approx_kl = 0, clip_frac = 0;
  std::vector<float> values;  // the critic's outputs (explained variance)
};

// A minibatch as contiguous rows (float32; actions int64, one per row).
struct FusedPpoInputs {
  int64_t m = 0;
  const float* obs = nullptr;              // [m, obs_dim]
  const int64_t* actions = nullptr;        // [m]
  const float* old_logp = nullptr;         // [m]
  const float* old_dist_inputs = nullptr;  // [m, n]
  const float* vf_preds = nullptr;         // [m]
  const float* value_targets = nullptr;    // [m]
  const float* advantages = nullptr;       // [m]
  bool advantages_standardised = false;    // PpoMinibatch::advantages_standardised
};
// The rows of a LibTorch minibatch (its tensors contiguous: ppo.cpp and the test build them so).
FusedPpoInputs fused_inputs(const PpoMinibatch& mb);

class FusedPpo {
 public:
  // Whether the spec's model and spaces are the case this path computes.
  static bool supports(const PolicySpec& spec, const ActorCritic& model);
  explicit FusedPpo(const PolicySpec& spec);

  // The loss of `in` under `params` (the flat parameter buffer, in model->parameters()
  // order) and its gradient, written to `grad` (same layout, overwritten).
  FusedPpoStats loss_and_grad(const float* params, const FusedPpoInputs& in, double kl_coeff, float* grad);
  // Floats of the flat buffer this layout covers (must equal the model's).
  int64_t num_params() const;

 private:
  struct Layer {
    int64_t in, out, w, b;  // sizes and offsets into the flat buffer
  };
  // X [m, in] through `layers`; hs[l] = activation output of layer l (the last: raw output).
  void forward(const std::vector<Layer>& layers, const float* params, const float* x, int64_t m,
               std::vector<std::vector<float>>& hs);
  // dOut [m, out_last] back through `layers`: weight and bias gradients into grad.
  void backward(const std::vector<Layer>& layers, const float* params, const float* x, int64_t m,
                std::vector<std::vector<float>>& hs, std::vector<float>& d_out, float* grad);

  const AlgoConfig config_;
  const int64_t obs_dim_, n_;
  const bool relu_;
  std::vector<Layer> pi_, vf_;
  std::vector<std::vector<float>> pi_h_, vf_h_;  // activations
  std::vector<float> d_logits_, d_values_, d_a_, d_b_;
};

}  // namespace tandem::algo
