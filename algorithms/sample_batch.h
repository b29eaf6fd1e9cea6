#pragma once
// Experience as the server collects it and the learner consumes it. Plain vectors, no
// LibTorch: the server's episode registry fills these, algorithms/ turns them into tensors.
#include <cstdint>
#include <vector>

namespace tandem::algo {

// The logit a masked-out action gets in dist_inputs (Discrete/MultiDiscrete). The mask
// therefore travels with the experience: training re-applies it to the new logits wherever
// the behaviour logit is <= kMaskedLogit / 2, so old and new distributions agree on it.
inline constexpr float kMaskedLogit = -1e9f;

// One agent's trajectory fragment under one policy: T consecutive steps.
// Observations are already preprocessed (obs_dim = Space::preprocessed_size()).
struct Trajectory {
  int64_t obs_dim = 0;
  std::vector<float> obs;              // T * obs_dim
  std::vector<int64_t> actions;        // T * action_dim_discrete (Discrete: 1, MultiDiscrete: n)
  std::vector<float> actions_cont;     // T * action_dim_continuous (Box actions)
  std::vector<float> action_logp;      // T: log-prob of the action under the behaviour policy
  std::vector<float> vf_preds;         // T: value estimates of the behaviour policy
  std::vector<float> dist_inputs;      // T * dist_dim: behaviour distribution inputs (logits or mean|log_std)
  std::vector<float> rewards;          // T: reward of step t (all rewards logged after action t)
  bool terminated = false;             // last step ended the episode for this agent (no bootstrap)
  float bootstrap_value = 0.f;         // V(s_T) when not terminated (truncation or fragment cut)
  int64_t size() const { return static_cast<int64_t>(action_logp.size()); }
};

// A postprocessed batch: trajectories concatenated, with advantages and value targets.
struct SampleBatch {
  int64_t obs_dim = 0;
  int64_t count = 0;                   // number of steps
  std::vector<float> obs;
  std::vector<int64_t> actions;
  std::vector<float> actions_cont;
  std::vector<float> action_logp;
  std::vector<float> vf_preds;
  std::vector<float> dist_inputs;
  std::vector<float> advantages;       // GAE (or returns - vf_preds)
  std::vector<float> value_targets;    // advantages + vf_preds (lambda-returns)

  // Appends `t` after computing its advantages with (gamma, lambda_, use_gae, use_critic).
  // Throws std::invalid_argument when the vectors of `t` have inconsistent sizes.
  void append(const Trajectory& t, double gamma, double lambda_, bool use_gae, bool use_critic);
};

// GAE (Schulman et al. 2016) over one trajectory; out vectors are resized to T.
void compute_gae(const std::vector<float>& rewards, const std::vector<float>& vf_preds,
                 float bootstrap_value, bool terminated, double gamma, double lambda_,
                 std::vector<float>& advantages, std::vector<float>& value_targets);
// Discounted returns (no critic / use_gae=false): advantages = returns - vf_preds (or returns).
void compute_discounted_returns(const std::vector<float>& rewards, float bootstrap_value,
                                bool terminated, double gamma, std::vector<float>& returns);

}  // namespace tandem::algo
