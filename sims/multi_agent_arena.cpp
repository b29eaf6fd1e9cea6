// MultiAgentArena from the RLlib tutorial, rule for rule; see multi_agent_arena.h.
#include "sims/multi_agent_arena.h"

#include <stdexcept>
#include <string>

#include "sims/random_util.h"

namespace tandem::sims {
namespace {

int64_t action_of(const ActionDict& actions, const char* agent) {
  const auto it = actions.find(agent);
  if (it == actions.end()) {
    throw std::invalid_argument(std::string("MultiAgentArena: no action for agent \"") + agent +
                                "\"");
  }
  if (it->second < 0 || it->second >= MultiAgentArena::kNumActions) {
    throw std::invalid_argument(std::string("MultiAgentArena: action of \"") + agent +
                                "\" must be in 0..3, got " + std::to_string(it->second));
  }
  return it->second;
}

}  // namespace

MultiAgentArena::MultiAgentArena(const ArenaConfig& config) : config_(config), rng_(config.seed) {
  if (config.width < 1 || config.height < 1 || config.width * config.height < 2) {
    throw std::invalid_argument(
        "MultiAgentArena: the grid needs width, height >= 1 and "
        "at least 2 cells, got " +
        std::to_string(config.width) + "x" + std::to_string(config.height));
  }
  if (config.episode_len < 1) {
    throw std::invalid_argument("MultiAgentArena: episode_len must be >= 1, got " +
                                std::to_string(config.episode_len));
  }
  reset();
}

ObsDict MultiAgentArena::reset() {
  agent1_pos_ = {0, 0};
  agent2_pos_ = {config_.height - 1, config_.width - 1};
  agent1_return_ = 0.0;
  agent2_return_ = 0.0;
  agent1_visited_.assign(static_cast<size_t>(num_positions()), false);
  agent1_visited_[static_cast<size_t>(cell(agent1_pos_))] = true;
  num_visited_ = 1;
  timesteps_ = 0;
  collision_ = false;
  new_fields_discovered_ = 0;
  num_collisions_ = 0;
  return {{kAgent1, obs_of(agent1_pos_, agent2_pos_)}, {kAgent2, obs_of(agent2_pos_, agent1_pos_)}};
}

StepResult MultiAgentArena::step(const ActionDict& actions) {
  const int64_t a1 = action_of(actions, kAgent1);
  const int64_t a2 = action_of(actions, kAgent2);

  ++timesteps_;
  const bool is_done = timesteps_ >= config_.episode_len;

  const StepPlan plan = plan_step();
  if (plan.agent1_moves < 0 || plan.agent2_moves < 0) {
    throw std::logic_error("MultiAgentArena: a step plan needs move counts >= 0");
  }
  unsigned events = kNone;
  auto move_agent1 = [&] {
    for (int i = 0; i < plan.agent1_moves; ++i) events |= move(agent1_pos_, agent2_pos_, a1, true);
  };
  auto move_agent2 = [&] {
    for (int i = 0; i < plan.agent2_moves; ++i) events |= move(agent2_pos_, agent1_pos_, a2, false);
  };
  if (plan.first == FirstMover::kAgent1) {
    move_agent1();
    move_agent2();
  } else {
    move_agent2();
    move_agent1();
  }
  collision_ = (events & kCollision) != 0;

  const float base1 = collision_ ? -1.0f : (events & kNewField) ? 1.0f : -0.5f;
  const float base2 = collision_ ? 1.0f : -0.1f;
  const float r1 = base1 - plan.agent1_charge;
  const float r2 = base2 - plan.agent2_charge;
  agent1_return_ += r1;
  agent2_return_ += r2;
  // MyCallbacks.on_episode_step: `if r1 == 1.0: new field; elif r2 == 1.0: collision`.
  if (base1 == 1.0f) {
    ++new_fields_discovered_;
  } else if (base2 == 1.0f) {
    ++num_collisions_;
  }

  StepResult result;
  result.obs = {{kAgent1, obs_of(agent1_pos_, agent2_pos_)},
                {kAgent2, obs_of(agent2_pos_, agent1_pos_)}};
  result.rewards = {{kAgent1, r1}, {kAgent2, r2}};
  // The reference says done=True for both at the time limit; see the header comment.
  result.terminated = {{kAgent1, false}, {kAgent2, false}};
  result.truncated = {{kAgent1, is_done}, {kAgent2, is_done}};
  result.all_done = is_done;
  return result;
}

MultiAgentArena::StepPlan MultiAgentArena::plan_step() { return StepPlan{.first = toss_coin()}; }

FirstMover MultiAgentArena::toss_coin() {
  // The reference's `random.random() > 0.5` means agent1 moves first.
  if (forced_first_) return *forced_first_;
  return uniform01(rng_) > 0.5 ? FirstMover::kAgent1 : FirstMover::kAgent2;
}

std::vector<AgentId> MultiAgentArena::agent_ids() const { return {kAgent1, kAgent2}; }

unsigned MultiAgentArena::move(GridPos& pos, const GridPos& other, int64_t action, bool is_agent1) {
  GridPos target = pos;
  target.row += action == kUp ? -1 : action == kDown ? 1 : 0;
  target.col += action == kRight ? 1 : action == kLeft ? -1 : 0;

  // Blocked by the other agent: checked before the walls, and the mover stays put.
  if (target == other) return kCollision;

  // Walls clamp.
  if (target.row < 0) {
    target.row = 0;
  } else if (target.row >= config_.height) {
    target.row = config_.height - 1;
  }
  if (target.col < 0) {
    target.col = 0;
  } else if (target.col >= config_.width) {
    target.col = config_.width - 1;
  }
  pos = target;

  if (is_agent1) {
    const auto c = static_cast<size_t>(cell(pos));
    if (!agent1_visited_[c]) {
      agent1_visited_[c] = true;
      ++num_visited_;
      return kNewField;
    }
  }
  return kNone;
}

Obs MultiAgentArena::obs_of(const GridPos& self, const GridPos& other) const {
  return {static_cast<float>(cell(self)), static_cast<float>(cell(other))};
}

}  // namespace tandem::sims
