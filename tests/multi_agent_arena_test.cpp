// Tests of sims/multi_agent_arena: the RLlib tutorial's MultiAgentArena rules (moves,
// walls, collisions and move order, rewards of both agents, revisits, episode end,
// custom metric counters, the seeded coin).
#include "sims/multi_agent_arena.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

using tandem::sims::ArenaConfig;
using tandem::sims::FirstMover;
using tandem::sims::GridPos;
using tandem::sims::MultiAgentArena;
using tandem::sims::StepResult;

constexpr int64_t kUp = MultiAgentArena::kUp;
constexpr int64_t kRight = MultiAgentArena::kRight;
constexpr int64_t kDown = MultiAgentArena::kDown;
constexpr int64_t kLeft = MultiAgentArena::kLeft;

StepResult step(MultiAgentArena& env, FirstMover first, int64_t a1, int64_t a2) {
  env.set_first_mover_for_test(first);
  return env.step({{"agent1", a1}, {"agent2", a2}});
}

void check_rewards(const StepResult& r, float r1, float r2) {
  CHECK(r.rewards.at("agent1") == r1);
  CHECK(r.rewards.at("agent2") == r2);
}

void check_obs(const StepResult& r, const MultiAgentArena& env) {
  const int w = env.config().width;
  const float p1 = static_cast<float>(env.agent1_pos().row * w + env.agent1_pos().col);
  const float p2 = static_cast<float>(env.agent2_pos().row * w + env.agent2_pos().col);
  CHECK(r.obs.at("agent1") == std::vector<float>{p1, p2});
  CHECK(r.obs.at("agent2") == std::vector<float>{p2, p1});
}

}  // namespace

TEST_CASE("Arena: reset puts the agents in opposite corners") {
  MultiAgentArena env;
  CHECK(env.agent_ids() == std::vector<std::string>{"agent1", "agent2"});
  CHECK(env.num_positions() == 100);
  const auto obs = env.reset();
  REQUIRE(obs.size() == 2);
  CHECK(obs.at("agent1") == std::vector<float>{0.0f, 99.0f});
  CHECK(obs.at("agent2") == std::vector<float>{99.0f, 0.0f});
  CHECK(env.agent1_pos() == GridPos{0, 0});
  CHECK(env.agent2_pos() == GridPos{9, 9});
  CHECK(env.timesteps() == 0);
  CHECK(env.num_visited_fields() == 1);
}

TEST_CASE("Arena: the tutorial's first step (agent1 down, agent2 up)") {
  MultiAgentArena env;
  env.reset();
  for (const FirstMover first : {FirstMover::kAgent1, FirstMover::kAgent2}) {
    env.reset();
    const auto r = step(env, first, kDown, kUp);
    CHECK(env.agent1_pos() == GridPos{1, 0});
    CHECK(env.agent2_pos() == GridPos{8, 9});
    CHECK(r.obs.at("agent1") == std::vector<float>{10.0f, 89.0f});
    CHECK(r.obs.at("agent2") == std::vector<float>{89.0f, 10.0f});
    check_rewards(r, 1.0f, -0.1f);  // R1=1.0, R2=-0.1 as printed in the tutorial
    CHECK(env.timesteps() == 1);
  }
}

TEST_CASE("Arena: walls clamp, revisits cost agent1 -0.5") {
  MultiAgentArena env;
  env.reset();
  // Both push into their corners' walls: nobody moves, the start cell is already visited.
  auto r = step(env, FirstMover::kAgent1, kUp, kDown);
  CHECK(env.agent1_pos() == GridPos{0, 0});
  CHECK(env.agent2_pos() == GridPos{9, 9});
  check_rewards(r, -0.5f, -0.1f);
  check_obs(r, env);
  r = step(env, FirstMover::kAgent2, kLeft, kRight);
  CHECK(env.agent1_pos() == GridPos{0, 0});
  CHECK(env.agent2_pos() == GridPos{9, 9});
  check_rewards(r, -0.5f, -0.1f);
  // A new cell pays +1, going back to a visited one -0.5.
  r = step(env, FirstMover::kAgent1, kRight, kUp);
  CHECK(env.agent1_pos() == GridPos{0, 1});
  CHECK(env.agent2_pos() == GridPos{8, 9});
  check_rewards(r, 1.0f, -0.1f);
  check_obs(r, env);
  r = step(env, FirstMover::kAgent2, kLeft, kLeft);
  CHECK(env.agent1_pos() == GridPos{0, 0});
  CHECK(env.agent2_pos() == GridPos{8, 8});
  check_rewards(r, -0.5f, -0.1f);
  r = step(env, FirstMover::kAgent1, kRight, kLeft);
  CHECK(env.agent1_pos() == GridPos{0, 1});
  check_rewards(r, -0.5f, -0.1f);
  CHECK_FALSE(env.collision());
  CHECK(env.new_fields_discovered() == 1);
  CHECK(env.num_collisions() == 0);
  CHECK(env.num_visited_fields() == 2);
  CHECK(env.agent1_return() == doctest::Approx(-1.0));
  CHECK(env.agent2_return() == doctest::Approx(-0.5));
}

TEST_CASE("Arena: collisions block the mover, pay -1 / +1, and depend on the move order") {
  // 3x3: agent1 at (0,0), agent2 at (2,2).
  MultiAgentArena env({.width = 3, .height = 3, .episode_len = 100, .seed = 0});
  env.reset();

  // 1: agent1 right onto a new cell, agent2 up.
  auto r = step(env, FirstMover::kAgent1, kRight, kUp);
  CHECK(env.agent1_pos() == GridPos{0, 1});
  CHECK(env.agent2_pos() == GridPos{1, 2});
  check_rewards(r, 1.0f, -0.1f);

  // 2: agent1 enters the new cell (0,2), then agent2 bumps into it: agent2 stays.
  // The collision outweighs the new field (-1, not +1), yet the cell is now visited.
  r = step(env, FirstMover::kAgent1, kRight, kUp);
  CHECK(env.agent1_pos() == GridPos{0, 2});
  CHECK(env.agent2_pos() == GridPos{1, 2});
  CHECK(env.collision());
  check_rewards(r, -1.0f, 1.0f);
  check_obs(r, env);
  CHECK(env.num_visited_fields() == 3);
  CHECK(env.new_fields_discovered() == 1);  // the callback counts only r1 == +1 steps
  CHECK(env.num_collisions() == 1);

  // 3: agent1 first runs into agent2 (blocked, collision: agent2 gets +1 although it
  // did nothing), then agent2 moves left.
  r = step(env, FirstMover::kAgent1, kDown, kLeft);
  CHECK(env.agent1_pos() == GridPos{0, 2});
  CHECK(env.agent2_pos() == GridPos{1, 1});
  check_rewards(r, -1.0f, 1.0f);
  CHECK(env.num_collisions() == 2);

  // 4: agent2 first steps back to (1,2); agent1 then runs into it.
  r = step(env, FirstMover::kAgent2, kDown, kRight);
  CHECK(env.agent1_pos() == GridPos{0, 2});
  CHECK(env.agent2_pos() == GridPos{1, 2});
  check_rewards(r, -1.0f, 1.0f);
  CHECK(env.num_collisions() == 3);

  // 5: agent2 first leaves (1,2), so agent1 may take it: new field, no collision.
  r = step(env, FirstMover::kAgent2, kDown, kLeft);
  CHECK(env.agent1_pos() == GridPos{1, 2});
  CHECK(env.agent2_pos() == GridPos{1, 1});
  CHECK_FALSE(env.collision());
  check_rewards(r, 1.0f, -0.1f);

  // 6: both run into each other; both are blocked; one collision for the step.
  r = step(env, FirstMover::kAgent1, kLeft, kRight);
  CHECK(env.agent1_pos() == GridPos{1, 2});
  CHECK(env.agent2_pos() == GridPos{1, 1});
  check_rewards(r, -1.0f, 1.0f);
  CHECK(env.num_collisions() == 4);

  // 7: agent1 first moves away; agent2 follows into the cell agent1 just left.
  r = step(env, FirstMover::kAgent1, kDown, kRight);
  CHECK(env.agent1_pos() == GridPos{2, 2});
  CHECK(env.agent2_pos() == GridPos{1, 2});
  check_rewards(r, 1.0f, -0.1f);

  // 8: the same moves with agent2 first: agent2 is blocked by agent1 still there.
  env.reset();
  step(env, FirstMover::kAgent1, kDown, kLeft);  // agent1 (1,0), agent2 (2,1)
  step(env, FirstMover::kAgent1, kRight, kUp);   // agent1 (1,1), agent2 blocked by it
  CHECK(env.agent1_pos() == GridPos{1, 1});
  CHECK(env.agent2_pos() == GridPos{2, 1});
  r = step(env, FirstMover::kAgent2, kRight, kUp);  // agent2 into (1,1): blocked
  CHECK(env.agent1_pos() == GridPos{1, 2});
  CHECK(env.agent2_pos() == GridPos{2, 1});
  check_rewards(r, -1.0f, 1.0f);

  CHECK(env.new_fields_discovered() == 1);
  CHECK(env.num_collisions() == 2);
  CHECK(env.num_visited_fields() == 4);  // (0,0), (1,0), (1,1), (1,2)
}

TEST_CASE("Arena: the episode ends for both at step 100 (truncated, all_done)") {
  MultiAgentArena env;
  env.reset();
  // agent1 sweeps row 0 to the right (9 new cells, then 91 bumps into the wall);
  // agent2 keeps pushing into the bottom wall.
  double r1_sum = 0.0;
  double r2_sum = 0.0;
  for (int t = 1; t <= 100; ++t) {
    const auto r = step(env, t % 2 ? FirstMover::kAgent1 : FirstMover::kAgent2, kRight, kDown);
    CAPTURE(t);
    CHECK(r.rewards.at("agent1") == (t <= 9 ? 1.0f : -0.5f));
    CHECK(r.rewards.at("agent2") == -0.1f);
    r1_sum += r.rewards.at("agent1");
    r2_sum += r.rewards.at("agent2");
    CHECK_FALSE(r.terminated.at("agent1"));
    CHECK_FALSE(r.terminated.at("agent2"));
    CHECK(r.truncated.at("agent1") == (t == 100));
    CHECK(r.truncated.at("agent2") == (t == 100));
    CHECK(r.all_done == (t == 100));
    CHECK(r.obs.size() == 2);  // the final observation is still reported
  }
  CHECK(env.timesteps() == 100);
  CHECK(env.agent1_pos() == GridPos{0, 9});
  CHECK(env.agent2_pos() == GridPos{9, 9});
  CHECK(env.new_fields_discovered() == 9);
  CHECK(env.num_collisions() == 0);
  CHECK(env.num_visited_fields() == 10);
  CHECK(env.agent1_return() == doctest::Approx(9.0 - 0.5 * 91));
  CHECK(env.agent1_return() == doctest::Approx(r1_sum));
  CHECK(env.agent2_return() == doctest::Approx(-10.0));
  CHECK(env.agent2_return() == doctest::Approx(r2_sum));

  // reset starts a fresh episode: counters, returns and visited cells cleared.
  env.reset();
  CHECK(env.timesteps() == 0);
  CHECK(env.new_fields_discovered() == 0);
  CHECK(env.num_collisions() == 0);
  CHECK(env.num_visited_fields() == 1);
  CHECK(env.agent1_return() == 0.0);
  const auto r = step(env, FirstMover::kAgent1, kRight, kDown);
  CHECK(r.rewards.at("agent1") == 1.0f);  // (0,1) is new again
  CHECK_FALSE(r.all_done);
}

TEST_CASE("Arena: episode_len is configurable") {
  MultiAgentArena env({.width = 10, .height = 10, .episode_len = 3, .seed = 0});
  env.reset();
  CHECK_FALSE(env.step({{"agent1", kRight}, {"agent2", kLeft}}).all_done);
  CHECK_FALSE(env.step({{"agent1", kRight}, {"agent2", kLeft}}).all_done);
  CHECK(env.step({{"agent1", kRight}, {"agent2", kLeft}}).all_done);
}

TEST_CASE("Arena: the seeded coin is fair and reproducible") {
  // 1x3 corridor: agent1 (0,0), agent2 (0,2); both step into (0,1). Whoever moves first
  // gets the cell, the other one is blocked, so positions reveal the coin.
  auto run = [](uint64_t seed) {
    MultiAgentArena env({.width = 3, .height = 1, .episode_len = 100, .seed = seed});
    std::vector<bool> agent1_first;
    for (int i = 0; i < 400; ++i) {
      env.reset();
      const auto r = env.step({{"agent1", kRight}, {"agent2", kLeft}});
      CHECK(r.rewards.at("agent1") == -1.0f);
      CHECK(r.rewards.at("agent2") == 1.0f);
      agent1_first.push_back(env.agent1_pos() == GridPos{0, 1});
      CHECK(env.agent2_pos() == (agent1_first.back() ? GridPos{0, 2} : GridPos{0, 1}));
    }
    return agent1_first;
  };
  const auto a = run(5);
  CHECK(a == run(5));
  CHECK(a != run(6));
  int count = 0;
  for (const bool b : a) count += b ? 1 : 0;
  CHECK(count > 150);  // 400 fair tosses: mean 200, sd 10
  CHECK(count < 250);

  // Forcing and then releasing the coin.
  MultiAgentArena env({.width = 3, .height = 1, .episode_len = 100, .seed = 5});
  env.set_first_mover_for_test(FirstMover::kAgent2);
  env.step({{"agent1", kRight}, {"agent2", kLeft}});
  CHECK(env.agent2_pos() == GridPos{0, 1});
  env.set_first_mover_for_test(std::nullopt);
  env.reset();
  env.step({{"agent1", kRight}, {"agent2", kLeft}});
  CHECK((env.agent1_pos() == GridPos{0, 1}) == a[0]);
}

TEST_CASE("Arena: rejects bad configs and actions") {
  CHECK_THROWS_AS(MultiAgentArena({.width = 0, .height = 10}), std::invalid_argument);
  CHECK_THROWS_AS(MultiAgentArena({.width = 1, .height = 1}), std::invalid_argument);
  CHECK_THROWS_AS(MultiAgentArena({.width = 10, .height = 10, .episode_len = 0}),
                  std::invalid_argument);
  MultiAgentArena env;
  env.reset();
  CHECK_THROWS_AS(env.step({{"agent1", kUp}}), std::invalid_argument);
  CHECK_THROWS_AS(env.step({{"agent2", kUp}}), std::invalid_argument);
  CHECK_THROWS_AS(env.step({{"agent1", 4}, {"agent2", kUp}}), std::invalid_argument);
  CHECK_THROWS_AS(env.step({{"agent1", kUp}, {"agent2", -1}}), std::invalid_argument);
  CHECK(env.timesteps() == 0);  // a rejected step changes nothing
}
