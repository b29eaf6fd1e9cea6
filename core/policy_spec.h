#pragma once
// What a hosted policy is (id, spaces, merged hyperparameters) and what one forward pass
// yields for one agent. Shared by the server, the local client and algorithms/.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/algo_config.h"
#include "core/script_kind.h"
#include "core/spaces.h"

namespace tandem::core {

struct PolicySpec {
  std::string policy_id;
  Space observation_space;
  Space action_space;
  AlgoConfig config;  // the server's config with this policy's overrides applied
  // A scripted policy (config "scripted": "random" | "always_same" | "linear" | "beat_last"):
  // no model, never trained; its actions come from core::ScriptedPolicy.
  std::optional<ScriptKind> script;
};

// The model's input for one raw observation of this policy (preprocessed, Box elements
// clipped to +-config.observation_clip): the one place the server, the local client and
// truncation bootstrapping make it.
inline void preprocess_observation(const PolicySpec& spec, std::span<const float> raw, std::vector<float>& out) {
  out.resize(static_cast<size_t>(spec.observation_space.preprocessed_size()));
  spec.observation_space.preprocess(raw, out.data(), static_cast<float>(spec.config.observation_clip));
}

// One agent's action as computed by an InferenceModel.
struct ActionResult {
  std::vector<int64_t> discrete;   // Discrete: 1 value; MultiDiscrete: one per component
  std::vector<float> continuous;   // Box actions (raw sample, unclipped)
  float logp = 0.f;                // log-prob of the action under this model
  float vf_pred = 0.f;             // value estimate of the observation
  std::vector<float> dist_inputs;  // distribution inputs (logits, or mean then log_std)
  int64_t weights_version = -1;    // the model's weights version (-1: unknown)
};

}  // namespace tandem::core
