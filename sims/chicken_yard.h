#pragma once
// The robots-and-chickens yard of RLlib's hierarchical tutorial, as a plain simulator:
// a high-level agent per robot picks a chicken once, a low-level agent then walks the
// robot to it. The high agent acts only at step 0, so its rewards accumulate over the
// steps it skips: that is the point of the example.
// - The yard is the unit square [0,1]^2. N chickens (num_chickens, default 10) and 2 robots,
//   "robot_1" (index 0) and "robot_2" (index 1). Every chicken and robot has a position,
//   uniform in the square, and a personality: a 5-dim OCEAN vector of unit norm, uniform on
//   the unit sphere (5 standard normals by Box-Muller on uniform01 of sims/random_util.h,
//   divided by their norm; every component is therefore in [-1,1]). Chickens do not move.
//   reset() draws a new yard from a std::mt19937_64 seeded once with `seed` in the
//   constructor, so the sequence of yards is deterministic for a seed.
// - Agents, two per robot r in {1, 2}: "robot_r_high" picks a chicken, Discrete(N);
//   "robot_r_low" moves the robot, Discrete(8), directions in this order: 0=N (+y), 1=NE,
//   2=E (+x), 3=SE, 4=S, 5=SW, 6=W, 7=NW. Every move has length `speed` (diagonals are
//   normalised: (+-speed/sqrt(2), +-speed/sqrt(2))); the position is then clipped to [0,1]
//   per coordinate.
// - Env steps are the calls to step() of an episode, numbered from 0:
//   reset() returns observations for robot_1_high and robot_2_high only.
//   Step 0 takes exactly the two high actions (the chosen chicken of each robot; both may
//   choose the same one), rewards nobody, and returns observations for robot_1_low and
//   robot_2_low. Every later step takes exactly one low action per robot still travelling:
//   the robot moves, and if its distance to its chosen chicken is then <= catch_radius it
//   has caught it: both of its agents are terminated. Catching is checked only after a
//   move, so a low agent always moves at least once. The episode ends when both robots
//   have caught their chicken (terminated) or after max_steps env steps (step 0 included,
//   so at most max_steps - 1 moves): then both agents of each robot still travelling are
//   truncated. Observations returned by a step: each agent that acts next, plus the last
//   observation of each agent that ends in this step (RLlib wants one to end an episode).
//   terminated / truncated hold every agent of each robot that was travelling when the step
//   began (step 0: all four agents, all false).
// - Rewards, every step after step 0, for each robot travelling at the start of the step:
//   its low agent gets -step_penalty (walk fast), and its high agent ALSO gets
//   -step_penalty: the steps are the robot's time, a far chicken costs the high agent too,
//   so it learns to trade a chicken's match against the walk. The high agent does not act
//   on these steps; the rewards accumulate for it until its next (here: final) observation.
//   On catching, in the same step, the high agent gets + dot(robot personality, chicken
//   personality) (the match, in [-1,1]) and the low agent gets + arrival_bonus. So over an
//   episode the high agent's return is -step_penalty * moves + match (no match if
//   truncated) and the low agent's is -step_penalty * moves (+ arrival_bonus if caught).
// - Defaults (ChickenYardConfig): num_chickens 10, speed 0.05, catch_radius 0.05,
//   step_penalty 0.01, arrival_bonus 1.0, max_steps 100, seed 0.
// - Observations are Dict spaces of named Box components (flattened elsewhere in sorted-key
//   order, the order of NamedObs); oceans are bounded by [-1,1], positions by [0,1]:
//     high: "chicken_oceans" N*5 (chicken-major: chicken c's OCEAN at 5c..5c+4),
//           "chicken_positions" N*2 (x, y per chicken), "robot_ocean" 5, "robot_position" 2
//     low:  "chicken_positions" N*2, "robot_position" 2, "target" 2 (the chosen chicken's
//           position)
// Refused (std::invalid_argument naming the agent, nothing changes): an action for an agent
// that is not due (unknown ids, a robot that is done, any step after the end), a missing
// action for an agent that is due, an action out of range; also any step() after the end.
#include <array>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "sims/multi_agent_env.h"

namespace tandem::sims {

struct ChickenYardConfig {
  int num_chickens = 10;       // N >= 1
  double speed = 0.05;         // length of every move, > 0
  double catch_radius = 0.05;  // caught at distance <= catch_radius, >= 0
  double step_penalty = 0.01;  // per step after step 0, to the low and the high agent
  double arrival_bonus = 1.0;  // to the low agent on catching
  int max_steps = 100;         // env steps per episode, step 0 included; >= 2
  uint64_t seed = 0;           // seeds the yards drawn by reset()
};

struct YardPoint {
  double x = 0.0;
  double y = 0.0;
  bool operator==(const YardPoint&) const = default;
};

using Ocean = std::array<double, 5>;  // a personality: unit norm

// A whole yard: where everyone stands and who they are.
struct YardLayout {
  std::array<YardPoint, 2> robot_positions{};
  std::array<Ocean, 2> robot_oceans{};
  std::vector<YardPoint> chicken_positions;
  std::vector<Ocean> chicken_oceans;
};

// Named observation components (a Dict space); see the header comment.
using NamedObs = std::map<std::string, std::vector<float>>;
using NamedObsDict = std::map<AgentId, NamedObs>;

struct ChickenYardStep {
  NamedObsDict obs;                    // agents that act next, and the last obs of ending ones
  std::map<AgentId, float> rewards;    // every agent with a reward this step (highs included)
  std::map<AgentId, bool> terminated;  // caught its chicken
  std::map<AgentId, bool> truncated;   // cut off at max_steps while travelling
  bool all_done = false;               // episode over (RLlib's "__all__")
};

class ChickenYard {
 public:
  static constexpr int kNumRobots = 2;
  static constexpr int kOceanDim = 5;
  static constexpr int kNumDirections = 8;

  // Throws std::invalid_argument on a config outside the bounds noted in ChickenYardConfig.
  // Starts a first episode, as reset() does.
  explicit ChickenYard(const ChickenYardConfig& config = {});

  // Draws a new yard and starts an episode; returns {robot_1_high, robot_2_high}.
  NamedObsDict reset();
  // Starts an episode on a given yard (tests, fixed evaluation yards). Throws
  // std::invalid_argument unless it has num_chickens chickens, positions in [0,1] and
  // oceans of unit norm (within 1e-6).
  NamedObsDict reset(const YardLayout& layout);
  // Needs exactly the actions of the agents that are due (see the header comment).
  ChickenYardStep step(const ActionDict& actions);

  // Agent ids: robot 0 -> "robot_1_high" / "robot_1_low"; robot 1 -> "robot_2_...".
  static AgentId robot_id(int robot);
  static AgentId high_id(int robot);
  static AgentId low_id(int robot);
  // Every agent id: the four above, sorted.
  static std::vector<AgentId> agent_ids();
  // The unit step of a direction 0..7 (N, NE, E, SE, S, SW, W, NW).
  static YardPoint direction(int64_t action);
  // The direction whose move of `speed` from `from` ends closest to `to` (ties: the lowest
  // index): a greedy low policy.
  static int direction_toward(const YardPoint& from, const YardPoint& to, double speed);

  const ChickenYardConfig& config() const { return config_; }
  int num_chickens() const { return config_.num_chickens; }
  const YardLayout& layout() const { return layout_; }  // the yard at the episode's start
  YardPoint robot_position(int robot) const;            // current
  const Ocean& robot_personality(int robot) const;
  YardPoint chicken_position(int chicken) const;
  const Ocean& chicken_personality(int chicken) const;

  // Env steps taken in this episode (step 0 included).
  int env_steps() const { return env_steps_; }
  bool episode_over() const { return episode_over_; }
  // The agents due to act in the next step (sorted), empty after the end.
  std::vector<AgentId> due_agents() const;

  // Per robot (index 0 or 1): the chosen chicken (-1 before step 0), whether it caught it,
  // how many moves it made, and its path: the start position, then one point per move.
  int chosen_chicken(int robot) const;
  bool caught(int robot) const;
  bool travelling(int robot) const;  // chose a chicken, not caught, episode not over
  int steps_travelled(int robot) const;
  const std::vector<YardPoint>& path(int robot) const;
  // The sums of the rewards each agent got this episode.
  double high_return(int robot) const;
  double low_return(int robot) const;

  // dot(robot personality, chicken personality), in [-1,1].
  double match(int robot, int chicken) const;
  double best_match(int robot) const;    // max over the chickens
  double random_match(int robot) const;  // mean over the chickens: a uniform choice's expectation
  // Moves of length speed needed to get within catch_radius of the chosen chicken along a
  // straight line from the start: max(0, ceil((distance - catch_radius) / speed)). With 8
  // directions the best possible is a bit above that (and at least 1, see the header
  // comment). Throws std::logic_error before a chicken is chosen.
  int straight_line_steps(int robot) const;

 private:
  struct RobotState {
    YardPoint position;
    int chosen = -1;
    bool caught = false;
    int steps = 0;
    std::vector<YardPoint> path;
    double high_return = 0.0;
    double low_return = 0.0;
  };

  NamedObsDict start_episode();
  // Throws unless `actions` holds exactly the due agents' actions, each in range.
  void check_actions(const ActionDict& actions) const;
  NamedObs high_obs(int robot) const;
  NamedObs low_obs(int robot) const;
  std::vector<float> chicken_positions_flat() const;
  double distance_to_target(int robot) const;
  static void check_robot(int robot);
  const RobotState& state(int robot) const;  // checks the index
  void check_chicken(int chicken) const;

  ChickenYardConfig config_;
  std::mt19937_64 rng_;
  YardLayout layout_;
  std::array<RobotState, kNumRobots> robots_{};
  int env_steps_ = 0;
  bool episode_over_ = false;
};

}  // namespace tandem::sims
