#pragma once
// One agent's consecutive steps under one policy: what the episode core builds, what a local
// client uploads and what the learner consumes. Plain vectors, no LibTorch.
#include <cstdint>
#include <string>
#include <vector>

namespace tandem::core {

// The logit a masked-out action gets in dist_inputs (Discrete/MultiDiscrete). The mask
// therefore travels with the experience: training re-applies it to the new logits wherever
// the behaviour logit is <= kMaskedLogit / 2, so old and new distributions agree on it.
inline constexpr float kMaskedLogit = -1e9f;

// T consecutive steps. On the server observations are preprocessed (obs_dim =
// Space::preprocessed_size()); in a local client's upload they are raw (Space::raw_size()).
struct Trajectory {
  int64_t obs_dim = 0;
  std::vector<float> obs;              // T * obs_dim
  std::vector<int64_t> actions;        // T * discrete width (Discrete: 1, MultiDiscrete: n)
  std::vector<float> actions_cont;     // T * continuous width (Box actions)
  std::vector<float> action_logp;      // T: log-prob of the action under the behaviour policy
  std::vector<float> vf_preds;         // T: value estimates of the behaviour policy
  std::vector<float> dist_inputs;      // T * dist_dim: behaviour distribution inputs
  std::vector<float> rewards;          // T: reward of step t (all rewards logged after action t)
  bool terminated = false;             // last step ended the episode for this agent (no bootstrap)
  float bootstrap_value = 0.f;         // V(s_T) when not terminated (truncation or fragment cut)
  int64_t behaviour_version = -1;      // the oldest weights version behind any step (-1: unknown)
  int64_t size() const { return static_cast<int64_t>(rewards.size()); }
};

// Where a closed fragment comes from and what follows it: what experience output
// (core/offline_json.h) writes beside the steps. The server fills it; uploads from local
// clients carry only the ids.
struct FragmentOrigin {
  std::string episode_id;
  std::string agent_id;
  int agent_index = 0;           // the agent's order of appearance in its episode (0, 1, ...)
  int64_t first_step = 0;        // the agent's step index of the fragment's first step
  bool agent_done = false;       // the agent's episode ended with this fragment (terminated,
                                 // truncated or abandoned), not a cut
  std::vector<float> next_obs;   // the observation after the last step, when known (a cut)
};

}  // namespace tandem::core
