#include "algorithms/off_policy_estimate.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "algorithms/offline_rows.h"

namespace tandem::algo {
namespace {

void mean_std(const std::vector<double>& v, double& mean, double& std) {
  mean = std = 0;
  if (v.empty()) return;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) std += (x - mean) * (x - mean);
  std = std::sqrt(std / static_cast<double>(v.size()));  // numpy's np.std (ddof 0)
}

}  // namespace

OffPolicyEstimate wis_estimate(const core::OfflineBatch& rows, std::span<const float> target_logp, double gamma) {
  if (rows.action_logp.size() != static_cast<size_t>(rows.count))
    throw std::invalid_argument("wis_estimate: the rows have no action_logp (the behaviour policy's log-prob)");
  if (target_logp.size() != static_cast<size_t>(rows.count))
    throw std::invalid_argument("wis_estimate: target_logp has " + std::to_string(target_logp.size()) +
                                " values for " + std::to_string(rows.count) + " rows");
  const auto segments = offline_segments(rows);
  // 1. Cumulative importance ratios p_t of every piece, and their sums per step t.
  std::vector<std::vector<double>> p(segments.size());
  std::vector<double> filter_values, filter_counts;
  for (size_t e = 0; e < segments.size(); ++e) {
    double pt = 1.0;
    for (int64_t i = segments[e].begin; i < segments[e].end; ++i) {
      const auto k = static_cast<size_t>(i);
      pt *= std::exp(static_cast<double>(target_logp[k]) - static_cast<double>(rows.action_logp[k]));
      p[e].push_back(pt);
      const size_t t = p[e].size() - 1;
      if (t >= filter_values.size()) filter_values.push_back(0), filter_counts.push_back(0);
      filter_values[t] += pt;
      filter_counts[t] += 1;
    }
  }
  // 2. Per piece: the behaviour return and the weighted importance sampling estimate.
  std::vector<double> v_behavior, v_target;
  for (size_t e = 0; e < segments.size(); ++e) {
    double vb = 0, vt = 0, discount = 1;
    for (size_t t = 0; t < p[e].size(); ++t) {
      const double r = rows.rewards[static_cast<size_t>(segments[e].begin) + t];
      const double w_t = filter_values[t] / filter_counts[t];
      vb += discount * r;
      if (w_t > 0) vt += p[e][t] / w_t * discount * r;
      discount *= gamma;
    }
    v_behavior.push_back(vb);
    v_target.push_back(vt);
  }
  // 3. Means over the pieces (RLlib's OffPolicyEstimator.estimate).
  OffPolicyEstimate est;
  est.episodes = static_cast<int64_t>(segments.size());
  mean_std(v_behavior, est.v_behavior, est.v_behavior_std);
  mean_std(v_target, est.v_target, est.v_target_std);
  est.v_gain = est.v_target / std::max(est.v_behavior, 1e-8);
  est.v_delta = est.v_target - est.v_behavior;
  return est;
}

std::vector<float> target_logp(const InferenceModel& model, const Space& action_space, const core::OfflineBatch& rows) {
  std::vector<float> out(static_cast<size_t>(rows.count));
  if (rows.count == 0) return out;
  std::vector<ActionResult> results;
  std::mt19937_64 rng(0);  // greedy: nothing is sampled
  const std::vector<uint8_t> greedy(static_cast<size_t>(rows.count), 0);
  model.compute_actions(rows.obs, rows.count, {}, greedy, rng, results);
  const bool box = action_space.kind == SpaceKind::Box;
  const auto w = static_cast<size_t>(rows.action_width);
  for (size_t i = 0; i < out.size(); ++i) {
    std::span<const int64_t> discrete;
    std::span<const float> continuous;
    if (box)
      continuous = std::span<const float>(rows.actions_cont).subspan(i * w, w);
    else
      discrete = std::span<const int64_t>(rows.actions).subspan(i * w, w);
    out[i] = action_logp(action_space, results[i].dist_inputs, discrete, continuous);
  }
  return out;
}

}  // namespace tandem::algo
