#pragma once
// A deterministic training batch for algorithm tests: 16 bootstrapped fragments of 4 steps
// (64 samples) of random Box(3) observations, with the actions, log-probabilities and values
// the given model computes for them.
#include <cstdint>
#include <random>
#include <vector>

#include "algorithms/policy.h"
#include "algorithms/sample_batch.h"

namespace tandem::test {

// The 16 fragments of make_batch. action_reward: each reward also adds the action taken (so
// that the advantages depend on the actions).
inline std::vector<algo::Trajectory> make_fragments(const algo::InferenceModel& model, uint64_t seed,
                                                    bool action_reward = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<algo::ActionResult> out;
  const std::vector<uint8_t> explore{1};
  std::vector<algo::Trajectory> frags;
  for (int f = 0; f < 16; ++f) {
    algo::Trajectory t;
    t.obs_dim = 3;
    for (int s = 0; s < 4; ++s) {
      std::vector<float> obs{nd(rng), nd(rng), nd(rng)};
      model.compute_actions(obs, 1, {}, explore, rng, out);
      t.obs.insert(t.obs.end(), obs.begin(), obs.end());
      t.actions.push_back(out[0].discrete[0]);
      t.action_logp.push_back(out[0].logp);
      t.vf_preds.push_back(out[0].vf_pred);
      t.dist_inputs.insert(t.dist_inputs.end(), out[0].dist_inputs.begin(), out[0].dist_inputs.end());
      t.rewards.push_back(nd(rng) + (action_reward ? static_cast<float>(out[0].discrete[0]) : 0.f));
    }
    t.terminated = f % 2 == 0;
    t.bootstrap_value = 0.5f;
    frags.push_back(std::move(t));
  }
  return frags;
}

inline algo::SampleBatch make_batch(const algo::InferenceModel& model, const algo::PolicySpec& spec, uint64_t seed) {
  algo::SampleBatch batch;
  for (const auto& t : make_fragments(model, seed))
    batch.append(t, spec.config.gamma, spec.config.lambda_, spec.config.use_gae, spec.config.use_critic);
  return batch;
}

}  // namespace tandem::test
