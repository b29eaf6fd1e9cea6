#pragma once
// CartPole-v1 as in gym (gym/envs/classic_control/cartpole.py wrapped in TimeLimit with
// max_episode_steps=500): the same constants, the same explicit-Euler update computed in
// double like gym's Python floats, float32 observations, reward 1.0 per step including
// the terminating one (0.0 for steps taken after termination, as gym does), termination
// when |x| > 2.4 or |theta| > 12 degrees, truncation once 500 steps have elapsed.
// The initial state is uniform in [-0.05, 0.05)^4 from a seeded std::mt19937_64
// (numpy's generator is not reproduced, only its distribution).
#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "sims/multi_agent_env.h"

namespace tandem::sims {

// The physical state; gym keeps it as Python floats (double).
struct CartPoleState {
  double x = 0.0;          // cart position [m]
  double x_dot = 0.0;      // cart velocity [m/s]
  double theta = 0.0;      // pole angle from upright [rad], positive = leaning right
  double theta_dot = 0.0;  // pole angular velocity [rad/s]
};

class CartPole {
 public:
  // gym's constants, spelled as gym computes them.
  static constexpr double kGravity = 9.8;
  static constexpr double kMassCart = 1.0;
  static constexpr double kMassPole = 0.1;
  static constexpr double kTotalMass = kMassPole + kMassCart;
  static constexpr double kLength = 0.5;  // actually half the pole's length
  static constexpr double kPoleMassLength = kMassPole * kLength;
  static constexpr double kForceMag = 10.0;
  static constexpr double kTau = 0.02;              // seconds between state updates
  static constexpr double kPi = 3.141592653589793;  // == math.pi
  static constexpr double kThetaThresholdRadians = 12 * 2 * kPi / 360;
  static constexpr double kXThreshold = 2.4;
  static constexpr int kMaxEpisodeSteps = 500;  // CartPole-v1's TimeLimit
  static constexpr int kNumActions = 2;         // 0 = push left, 1 = push right
  static constexpr int kObsSize = 4;            // x, x_dot, theta, theta_dot

  struct Step {
    std::array<float, 4> obs;
    float reward;
    bool terminated;  // pole fell or cart left the track
    bool truncated;   // kMaxEpisodeSteps steps have elapsed (may coincide with terminated)
  };

  explicit CartPole(uint64_t seed);

  // Starts an episode: a random state in [-0.05, 0.05)^4, elapsed steps 0.
  std::array<float, 4> reset();
  // Pushes the cart left (0) or right (1) for one tau. Throws std::invalid_argument for
  // any other action and std::logic_error before the first reset()/set_state().
  Step step(int action);

  const CartPoleState& state() const { return state_; }
  // For tests: puts the env into `state` as if `elapsed_steps` steps of a running
  // (not terminated) episode had passed.
  void set_state(const CartPoleState& state, int elapsed_steps = 0);
  int elapsed_steps() const { return elapsed_steps_; }

  // The observation gym returns for a state: np.array(state, dtype=np.float32).
  static std::array<float, 4> to_obs(const CartPoleState& state);

 private:
  std::mt19937_64 rng_;
  CartPoleState state_;
  bool has_state_ = false;            // gym: self.state is not None
  int elapsed_steps_ = 0;             // gym's TimeLimit._elapsed_steps
  int steps_beyond_terminated_ = -1;  // gym's steps_beyond_terminated; -1 = None
};

// CartPole as a one-agent MultiAgentEnv; the agent id is "agent0".
class CartPoleMultiAgent : public MultiAgentEnv {
 public:
  static constexpr char kAgentId[] = "agent0";

  explicit CartPoleMultiAgent(uint64_t seed);

  ObsDict reset() override;
  // Needs an action for "agent0" (std::invalid_argument otherwise).
  StepResult step(const ActionDict& actions) override;
  std::vector<AgentId> agent_ids() const override;

  CartPole& env() { return env_; }
  const CartPole& env() const { return env_; }

 private:
  CartPole env_;
};

}  // namespace tandem::sims
