#pragma once
// The actor-critic MLP (RLlib's FullyConnectedNetwork): a policy trunk of fcnet_hiddens
// layers and a policy head, and a value head either on that trunk (vf_share_layers) or on
// its own MLP of the same sizes. Box actions with free_log_std get a state-independent
// log_std parameter. LibTorch inside: include only from algorithms/torch/*.cpp.
//
// Narrow torch includes on purpose: <torch/torch.h> doubles the compile time.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/action_logp.h"
#include "algorithms/policy.h"

namespace tandem::algo {

enum class Activation { Tanh, Relu, Elu, Linear };
Activation parse_activation(const std::string& name);
torch::Tensor apply_activation(Activation a, const torch::Tensor& x);

// dist_dim(action_space): core/action_logp.h.

struct ModelOutput {
  torch::Tensor dist_inputs;  // [B, dist_dim]
  torch::Tensor values;       // [B]
};

class ActorCriticImpl : public torch::nn::Module {
 public:
  // Builds the layers and initialises them deterministically from `seed` (no seed: the
  // weights are left as they come, for a model that is about to receive copied weights).
  ActorCriticImpl(const Space& observation_space, const Space& action_space,
                  const ModelConfig& model, std::optional<uint64_t> seed);

  ModelOutput forward(const torch::Tensor& obs);
  torch::Tensor values(const torch::Tensor& obs);

  int64_t obs_dim() const { return obs_dim_; }
  int64_t dist_dim() const { return dist_dim_; }
  Activation activation() const { return act_; }
  bool share_layers() const { return share_; }

  // Layers, read by the inference model's plain-C++ fast path.
  std::vector<torch::nn::Linear> pi_hidden, vf_hidden;
  torch::nn::Linear pi_out{nullptr}, vf_out{nullptr};
  torch::Tensor log_std;  // [d] when Box actions with free_log_std, else undefined

 private:
  torch::Tensor trunk(const std::vector<torch::nn::Linear>& layers, torch::Tensor x);

  int64_t obs_dim_ = 0;
  int64_t dist_dim_ = 0;
  Activation act_ = Activation::Tanh;
  bool share_ = false;
};
TORCH_MODULE(ActorCritic);

// A new model for `spec`, weights initialised from `seed` (no seed: not initialised).
ActorCritic make_model(const PolicySpec& spec, std::optional<uint64_t> seed);
// A deep copy of `src` (same architecture, copied weights, no shared storage).
ActorCritic clone_model(const PolicySpec& spec, const ActorCritic& src);
// Copies parameters and buffers of `src` into `dst` (same architecture), detached.
void copy_weights(const ActorCritic& src, ActorCritic& dst);

}  // namespace tandem::algo
