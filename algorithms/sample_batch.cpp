#include "algorithms/sample_batch.h"

#include <stdexcept>
#include <string>

namespace tandem::algo {
namespace {

[[noreturn]] void bad(const std::string& msg) {
  throw std::invalid_argument("SampleBatch::append: " + msg);
}

// Size of the per-step block of `v` (v.size() / T), checking that it divides evenly and
// matches what the batch already holds (`have` values over `count` steps).
size_t per_step(size_t v_size, size_t T, size_t have, int64_t count, const char* name) {
  if (v_size % T != 0)
    bad(std::string(name) + " has " + std::to_string(v_size) + " values for " + std::to_string(T) +
        " steps");
  const size_t d = v_size / T;
  if (count > 0 && have != d * static_cast<size_t>(count))
    bad(std::string(name) + " has " + std::to_string(d) +
        " values per step, the batch has a different number");
  return d;
}

}  // namespace

void compute_gae(const std::vector<float>& rewards, const std::vector<float>& vf_preds,
                 float bootstrap_value, bool terminated, double gamma, double lambda_,
                 std::vector<float>& advantages, std::vector<float>& value_targets) {
  const size_t T = rewards.size();
  advantages.resize(T);
  value_targets.resize(T);
  // delta_t = r_t + gamma * V(s_{t+1}) - V(s_t);  A_t = delta_t + gamma * lambda * A_{t+1}.
  // V(s_T) is the bootstrap value, or 0 after a terminal step.
  double next_value = terminated ? 0.0 : static_cast<double>(bootstrap_value);
  double gae = 0.0;
  for (size_t i = T; i-- > 0;) {
    const double v = vf_preds[i];
    const double delta = static_cast<double>(rewards[i]) + gamma * next_value - v;
    gae = delta + gamma * lambda_ * gae;
    advantages[i] = static_cast<float>(gae);
    value_targets[i] = static_cast<float>(gae + v);  // the lambda-return
    next_value = v;
  }
}

void compute_discounted_returns(const std::vector<float>& rewards, float bootstrap_value,
                                bool terminated, double gamma, std::vector<float>& returns) {
  const size_t T = rewards.size();
  returns.resize(T);
  double ret = terminated ? 0.0 : static_cast<double>(bootstrap_value);
  for (size_t i = T; i-- > 0;) {
    ret = static_cast<double>(rewards[i]) + gamma * ret;
    returns[i] = static_cast<float>(ret);
  }
}

void SampleBatch::append(const Trajectory& t, double gamma, double lambda_, bool use_gae,
                         bool use_critic) {
  const size_t T = static_cast<size_t>(t.size());
  if (T == 0) return;
  if (t.obs_dim <= 0) bad("trajectory obs_dim must be > 0");
  if (count > 0 && t.obs_dim != obs_dim)
    bad("trajectory obs_dim " + std::to_string(t.obs_dim) + " != batch obs_dim " +
        std::to_string(obs_dim));
  if (t.obs.size() != T * static_cast<size_t>(t.obs_dim))
    bad("obs has " + std::to_string(t.obs.size()) + " values, expected " + std::to_string(T) +
        " x " + std::to_string(t.obs_dim));
  if (t.rewards.size() != T) bad("rewards and action_logp differ in length");
  if (t.vf_preds.size() != T && !(t.vf_preds.empty() && !use_critic))
    bad("vf_preds and action_logp differ in length");
  if (use_gae && !use_critic) bad("GAE needs a critic (use_critic = true)");
  per_step(t.actions.size(), T, actions.size(), count, "actions");
  per_step(t.actions_cont.size(), T, actions_cont.size(), count, "actions_cont");
  per_step(t.dist_inputs.size(), T, dist_inputs.size(), count, "dist_inputs");

  std::vector<float> vf = t.vf_preds;
  if (vf.empty()) vf.assign(T, 0.f);
  std::vector<float> adv, targets;
  if (use_gae) {
    compute_gae(t.rewards, vf, t.bootstrap_value, t.terminated, gamma, lambda_, adv, targets);
  } else {
    // RLlib: advantages = returns - V (returns alone without a critic); targets = returns
    // (zeros without a critic, which then trains no value function).
    std::vector<float> returns;
    compute_discounted_returns(t.rewards, t.bootstrap_value, t.terminated, gamma, returns);
    adv.resize(T);
    for (size_t i = 0; i < T; ++i) adv[i] = use_critic ? returns[i] - vf[i] : returns[i];
    targets = use_critic ? returns : std::vector<float>(T, 0.f);
  }

  obs_dim = t.obs_dim;
  count += static_cast<int64_t>(T);
  obs.insert(obs.end(), t.obs.begin(), t.obs.end());
  actions.insert(actions.end(), t.actions.begin(), t.actions.end());
  actions_cont.insert(actions_cont.end(), t.actions_cont.begin(), t.actions_cont.end());
  action_logp.insert(action_logp.end(), t.action_logp.begin(), t.action_logp.end());
  vf_preds.insert(vf_preds.end(), vf.begin(), vf.end());
  dist_inputs.insert(dist_inputs.end(), t.dist_inputs.begin(), t.dist_inputs.end());
  advantages.insert(advantages.end(), adv.begin(), adv.end());
  value_targets.insert(value_targets.end(), targets.begin(), targets.end());
}

}  // namespace tandem::algo
