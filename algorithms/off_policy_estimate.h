#pragma once
// Off-policy estimate of a trained policy's return on logged episodes: RLlib's
// WeightedImportanceSampling (Precup et al. 2000), per iteration on the iteration's rows.
//
//   for each episode piece (algo::offline_segments) with rewards r_t, t = 0..T-1:
//     p_t = prod_{k<=t} pi(a_k|s_k) / mu(a_k|s_k)      mu from the rows' action_logp,
//                                                      pi from the trained policy
//   w_t = mean over the pieces that reach step t of p_t
//   v_behavior = sum_t gamma^t r_t,   v_target = sum_t p_t / w_t * gamma^t r_t
//   reported: the means over the pieces, their std, v_gain = v_target / max(v_behavior, 1e-8)
//   and v_delta = v_target - v_behavior (RLlib's OffPolicyEstimator.estimate)
//
// Torch-free; called by the server's offline learner after each training iteration.
#include <cstdint>
#include <span>
#include <vector>

#include "algorithms/policy.h"

namespace tandem::algo {

struct OffPolicyEstimate {
  int64_t episodes = 0;
  double v_behavior = 0, v_behavior_std = 0;
  double v_target = 0, v_target_std = 0;
  double v_gain = 0, v_delta = 0;
};

// `target_logp`: log pi(a_t|s_t) of every row (rows.count values). Throws
// std::invalid_argument when rows have no action_logp or the sizes differ.
OffPolicyEstimate wis_estimate(const core::OfflineBatch& rows, std::span<const float> target_logp, double gamma);

// log pi(a_t|s_t) of the rows' actions under `model` (its distribution inputs: a greedy pass).
std::vector<float> target_logp(const InferenceModel& model, const Space& action_space, const core::OfflineBatch& rows);

}  // namespace tandem::algo
