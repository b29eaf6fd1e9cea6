#pragma once
// The forward pass of a policy's model, stated so that a client in any language can rebuild
// it from GetConfig and the Weights tensors (RLlib's FullyConnectedNetwork; the LibTorch
// model in algorithms/torch/models.h computes exactly this).
//
//   x   = preprocess(raw obs)     Box: clip each element to +-observation_clip (0: no clip);
//                                 Discrete: one-hot; MultiDiscrete: concatenated one-hots
//   h   = act(x W^T + b) for each layer of "policy_trunk"   (W: [out, in], b: [out])
//   out = h W^T + b of "policy_head"
//   dist_inputs = out, or (Box with free_log_std) out then the "log_std" tensor
//   v   = the "value_head" on the policy trunk's h (vf_share_layers), else on its own trunk
//         ("value_trunk") run from x
//   Categorical: logits = dist_inputs (masked actions: kMaskedLogit); MultiCategorical: one
//   Categorical per nvec component, logits concatenated; DiagGaussian: mean then log_std.
//   Sampling: Categorical by its softmax; DiagGaussian mean + exp(log_std) * N(0, 1);
//   greedy (explore=false): the first argmax / the mean. log-prob: core/action_logp.h.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/policy_set.h"
#include "core/policy_spec.h"

namespace tandem::core {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool operator==(const TensorSpec&) const = default;
};

// The tensors of a policy's model, in the order the server sends them.
std::vector<TensorSpec> model_tensors(const PolicySpec& spec);

// GetConfig's description of one policy's model: {"format", "input_size", "preprocessing",
// "observation_clip", "observation_filter", "activation", "policy_trunk", "policy_head",
// "value_trunk", "value_head", "vf_share_layers", "distribution", "dist_dim", "free_log_std",
// "masked_logit", "tensors": [{"name", "shape"}]}. A scripted policy: {"format":
// "tandem-scripted/1", "script", "observation_space", "action_space", "masked_logit",
// "tensors": []} (core/scripted_policy.h states each script).
nlohmann::json describe_model(const PolicySpec& spec);
// {policy_id: describe_model(spec)} for every policy.
nlohmann::json describe_models(const PolicySet& set);

}  // namespace tandem::core
