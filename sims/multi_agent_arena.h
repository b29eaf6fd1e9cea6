#pragma once
// MultiAgentArena from the "Hands-on RL with Ray's RLlib" tutorial
// (reference 001_564aae6068ca35e6.txt), rule for rule:
// - A width x height grid (10x10). agent1 starts at (0, 0), agent2 at (height-1, width-1).
//   Actions: 0=up, 1=right, 2=down, 3=left.
// - Each step a coin decides who moves first (the reference: random.random() > 0.5 ->
//   agent1 first). Each move: shift by one cell; if the target (before wall clamping) is
//   the other agent's current cell, the mover stays and a "collision" is recorded;
//   otherwise the target is clamped into the grid. agent1 scores a "new_field" when it
//   ends on a cell not in its visited set (the start cell counts as visited); the cell is
//   added to the set even in a step that also has a collision.
// - Events of both moves are pooled per step (a set: at most one collision per step).
//   agent1: -1.0 on collision, else +1.0 on new_field, else -0.5.
//   agent2: +1.0 on collision (whoever bumped into whom), else -0.1.
// - Observation of each agent: [own cell, other's cell], cell = row * width + col,
//   i.e. MultiDiscrete([w*h, w*h]) sent as 2 raw floats.
// - The episode ends for both agents at step `episode_len` (100). The reference returns
//   done=True there (old gym API, no terminated/truncated split); it is a pure time limit
//   and the observation holds no clock, so Tandem reports it as truncated for both agents
//   and all_done=true; terminated is always false.
// Variants (sims/item_sale_arena.h) change how a step is played through the protected
// plan_step() hook: who moves first, how many moves each agent makes, and a charge taken off
// each agent's reward of that step. The arena's own plan is the coin, one move each, no charge.
// Deviations, all on inputs the reference never sees from RLlib: a missing action or one
// outside 0..3 throws std::invalid_argument (the reference raises KeyError / treats other
// values as "stay"). Stepping past the end carries on as the reference does (the step
// counter grows, the episode stays done) until reset().
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "sims/multi_agent_env.h"

namespace tandem::sims {

struct ArenaConfig {
  int width = 10;         // grid columns
  int height = 10;        // grid rows
  int episode_len = 100;  // steps per episode (the reference's "ts")
  uint64_t seed = 0;      // seeds the who-moves-first coin
};

struct GridPos {
  int row = 0;
  int col = 0;
  bool operator==(const GridPos&) const = default;
};

enum class FirstMover { kAgent1, kAgent2 };

class MultiAgentArena : public MultiAgentEnv {
 public:
  static constexpr char kAgent1[] = "agent1";
  static constexpr char kAgent2[] = "agent2";
  static constexpr int64_t kUp = 0;
  static constexpr int64_t kRight = 1;
  static constexpr int64_t kDown = 2;
  static constexpr int64_t kLeft = 3;
  static constexpr int kNumActions = 4;

  // Throws std::invalid_argument unless width, height >= 1, width*height >= 2 and
  // episode_len >= 1.
  explicit MultiAgentArena(const ArenaConfig& config = {});

  ~MultiAgentArena() override = default;

  // Puts the agents on their start cells, clears agent1's visited set, the step counter,
  // the returns and the counters below. The coin's RNG is not reseeded.
  ObsDict reset() override;
  // Needs an action for both "agent1" and "agent2". Plays the step as plan_step() says.
  StepResult step(const ActionDict& actions) override;
  std::vector<AgentId> agent_ids() const override;

  // Size of each observation component's range: MultiDiscrete([n, n]) with n = w*h.
  int num_positions() const { return config_.width * config_.height; }
  const ArenaConfig& config() const { return config_; }

  GridPos agent1_pos() const { return agent1_pos_; }
  GridPos agent2_pos() const { return agent2_pos_; }
  int timesteps() const { return timesteps_; }
  bool collision() const { return collision_; }            // the last step had a collision
  double agent1_return() const { return agent1_return_; }  // sum of agent1's rewards this episode
  double agent2_return() const { return agent2_return_; }

  // Custom metrics, counted as the tutorial's MyCallbacks counts them, this episode, on the
  // rewards before a plan's charges: steps in which agent1 got +1.0 (a new field entered in
  // a collision step earns -1.0 and is not counted, though the field is then visited) ...
  int new_fields_discovered() const { return new_fields_discovered_; }
  // ... and steps with a collision (both agents bumping in one step count once).
  int num_collisions() const { return num_collisions_; }
  // Cells in agent1's visited set, start cell included.
  int num_visited_fields() const { return num_visited_; }

  // For tests: make `mover` move first in every following step (no coin is tossed then);
  // std::nullopt returns to the seeded coin.
  void set_first_mover_for_test(std::optional<FirstMover> mover) { forced_first_ = mover; }

 protected:
  // How one step is played. Each move applies the agent's action once, with the collision
  // rule checked per move; events of all moves are pooled (a set) for the rewards.
  struct StepPlan {
    FirstMover first = FirstMover::kAgent1;  // whose moves come first
    int agent1_moves = 1;                    // times agent1's action is applied (>= 0)
    int agent2_moves = 1;                    // times agent2's action is applied (>= 0)
    float agent1_charge = 0.0f;              // subtracted from agent1's reward of this step
    float agent2_charge = 0.0f;              // subtracted from agent2's reward of this step
  };
  // Called by step() after the step counter has grown (timesteps() is this step's 1-based
  // number, as in the reference) and before any move. The arena's plan: the coin, one move
  // each, no charges.
  virtual StepPlan plan_step();
  // The seeded who-moves-first coin (or the mover forced by set_first_mover_for_test).
  FirstMover toss_coin();

 private:
  enum Event : unsigned { kNone = 0, kCollision = 1, kNewField = 2 };

  // The reference's _move(): moves one agent, returns the events it caused.
  unsigned move(GridPos& pos, const GridPos& other, int64_t action, bool is_agent1);
  Obs obs_of(const GridPos& self, const GridPos& other) const;
  int cell(const GridPos& p) const { return p.row * config_.width + p.col; }

  ArenaConfig config_;
  std::mt19937_64 rng_;
  std::optional<FirstMover> forced_first_;
  GridPos agent1_pos_;
  GridPos agent2_pos_;
  std::vector<bool> agent1_visited_;  // indexed by cell()
  int num_visited_ = 0;
  int timesteps_ = 0;
  bool collision_ = false;
  double agent1_return_ = 0.0;
  double agent2_return_ = 0.0;
  int new_fields_discovered_ = 0;
  int num_collisions_ = 0;
};

}  // namespace tandem::sims
