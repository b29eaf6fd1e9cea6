// CartPole-v1 with gym's exact dynamics; see cartpole.h.
#include "sims/cartpole.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "sims/random_util.h"

namespace tandem::sims {

CartPole::CartPole(uint64_t seed) : rng_(seed) {}

std::array<float, 4> CartPole::reset() {
  // gym: self.np_random.uniform(low=-0.05, high=0.05, size=(4,)), in this order.
  state_.x = uniform(rng_, -0.05, 0.05);
  state_.x_dot = uniform(rng_, -0.05, 0.05);
  state_.theta = uniform(rng_, -0.05, 0.05);
  state_.theta_dot = uniform(rng_, -0.05, 0.05);
  has_state_ = true;
  elapsed_steps_ = 0;
  steps_beyond_terminated_ = -1;
  return to_obs(state_);
}

void CartPole::set_state(const CartPoleState& state, int elapsed_steps) {
  state_ = state;
  has_state_ = true;
  elapsed_steps_ = elapsed_steps;
  steps_beyond_terminated_ = -1;
}

std::array<float, 4> CartPole::to_obs(const CartPoleState& s) {
  return {static_cast<float>(s.x), static_cast<float>(s.x_dot), static_cast<float>(s.theta),
          static_cast<float>(s.theta_dot)};
}

CartPole::Step CartPole::step(int action) {
  if (action != 0 && action != 1) {
    throw std::invalid_argument("CartPole: action must be 0 or 1, got " + std::to_string(action));
  }
  if (!has_state_) throw std::logic_error("CartPole: call reset() before step()");

  // The expressions keep gym's operation order so that every double rounds as in Python
  // (x**2 is pow(x, 2), which is exactly x*x).
  double x = state_.x;
  double x_dot = state_.x_dot;
  double theta = state_.theta;
  double theta_dot = state_.theta_dot;
  const double force = action == 1 ? kForceMag : -kForceMag;
  const double costheta = std::cos(theta);
  const double sintheta = std::sin(theta);
  const double temp = (force + kPoleMassLength * (theta_dot * theta_dot) * sintheta) / kTotalMass;
  const double thetaacc = (kGravity * sintheta - costheta * temp) /
                          (kLength * (4.0 / 3.0 - kMassPole * (costheta * costheta) / kTotalMass));
  const double xacc = temp - kPoleMassLength * thetaacc * costheta / kTotalMass;

  // kinematics_integrator == "euler": every update uses the values from before the step.
  x = x + kTau * x_dot;
  x_dot = x_dot + kTau * xacc;
  theta = theta + kTau * theta_dot;
  theta_dot = theta_dot + kTau * thetaacc;
  state_ = {x, x_dot, theta, theta_dot};

  const bool terminated = x < -kXThreshold || x > kXThreshold || theta < -kThetaThresholdRadians ||
                          theta > kThetaThresholdRadians;
  float reward = 1.0f;
  if (terminated) {
    if (steps_beyond_terminated_ < 0) {
      steps_beyond_terminated_ = 0;  // the pole just fell: this step still earns 1.0
    } else {
      ++steps_beyond_terminated_;  // stepping past the end: gym gives 0.0
      reward = 0.0f;
    }
  }

  // TimeLimit wrapper: truncated once max_episode_steps steps have elapsed.
  ++elapsed_steps_;
  const bool truncated = elapsed_steps_ >= kMaxEpisodeSteps;
  return {to_obs(state_), reward, terminated, truncated};
}

CartPoleMultiAgent::CartPoleMultiAgent(uint64_t seed) : env_(seed) {}

ObsDict CartPoleMultiAgent::reset() {
  const auto obs = env_.reset();
  return {{kAgentId, Obs(obs.begin(), obs.end())}};
}

StepResult CartPoleMultiAgent::step(const ActionDict& actions) {
  const auto it = actions.find(kAgentId);
  if (it == actions.end()) {
    throw std::invalid_argument("CartPoleMultiAgent: no action for agent \"agent0\"");
  }
  if (it->second != 0 && it->second != 1) {
    throw std::invalid_argument("CartPole: action must be 0 or 1, got " +
                                std::to_string(it->second));
  }
  const CartPole::Step s = env_.step(static_cast<int>(it->second));
  StepResult result;
  result.obs[kAgentId] = Obs(s.obs.begin(), s.obs.end());
  result.rewards[kAgentId] = s.reward;
  result.terminated[kAgentId] = s.terminated;
  result.truncated[kAgentId] = s.truncated;
  result.all_done = s.terminated || s.truncated;
  return result;
}

std::vector<AgentId> CartPoleMultiAgent::agent_ids() const { return {kAgentId}; }

}  // namespace tandem::sims
