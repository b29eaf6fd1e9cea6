#pragma once
// Experience as the server collects it and the learner consumes it. Plain vectors, no
// LibTorch: the server's episode registry fills these, algorithms/ turns them into tensors.
#include <cstdint>
#include <vector>

#include "core/trajectory.h"

namespace tandem::algo {

using core::kMaskedLogit;
using core::Trajectory;

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
