// Tests of core/scripted_policy: the four Connect Four opponents under masks (never a
// masked action, over thousands of draws), always_same's per-episode memory, beat_last
// reading the opponent's last column from the observation planes, and the space checks.
#include "core/scripted_policy.h"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <vector>

#include "sims/connect_four.h"

namespace {

using tandem::core::ScriptedPolicy;
using tandem::core::ScriptKind;
using tandem::core::ScriptMemory;
using tandem::core::Space;
using tandem::sims::ConnectFour;

const Space kBoard = Space::box({6, 7, 2}, 0.f, 1.f);
const Space kColumns = Space::discrete(7);

std::vector<float> mask_of(std::initializer_list<int> allowed) {
  std::vector<float> m(7, 0.f);
  for (int a : allowed) m[static_cast<size_t>(a)] = 1.f;
  return m;
}

}  // namespace

TEST_CASE("scripted policies: names and space checks") {
  for (auto k : {ScriptKind::kRandom, ScriptKind::kAlwaysSame, ScriptKind::kLinear,
                 ScriptKind::kBeatLast}) {
    CHECK(tandem::core::script_kind_from_name(tandem::core::script_kind_name(k)) == k);
    CHECK(ScriptedPolicy::check_spaces(k, kBoard, kColumns).ok());
  }
  CHECK(!tandem::core::script_kind_from_name("minimax").has_value());
  CHECK(!ScriptedPolicy::check_spaces(ScriptKind::kRandom, kBoard, Space::box({2})).ok());
  CHECK(!ScriptedPolicy::check_spaces(ScriptKind::kLinear, kBoard,
                                      Space::multi_discrete({3, 3})).ok());
  CHECK(!ScriptedPolicy::check_spaces(ScriptKind::kBeatLast, Space::box({84}), kColumns).ok());
  CHECK(!ScriptedPolicy::check_spaces(ScriptKind::kBeatLast, Space::box({6, 6, 2}), kColumns).ok());
  CHECK(ScriptedPolicy::check_spaces(ScriptKind::kRandom, Space::box({84}), kColumns).ok());
}

TEST_CASE("scripted policies: no masked action over many thousands of draws") {
  std::mt19937_64 rng(3);
  for (auto k : {ScriptKind::kRandom, ScriptKind::kAlwaysSame, ScriptKind::kLinear,
                 ScriptKind::kBeatLast}) {
    const ScriptedPolicy policy(k, kBoard, kColumns);
    std::map<int64_t, int> seen;
    for (int i = 0; i < 20000; ++i) {
      // A random non-empty mask; every 4th draw leaves exactly one action.
      std::vector<float> mask(7, 0.f);
      if (i % 4 == 0) {
        mask[rng() % 7] = 1.f;
      } else {
        for (auto& m : mask) m = static_cast<float>(rng() & 1);
        mask[rng() % 7] = 1.f;
      }
      std::vector<float> obs(84, 0.f);
      for (auto& o : obs) o = static_cast<float>((rng() % 5) == 0);
      ScriptMemory memory;
      if (i % 3 == 0) memory.kept_action = static_cast<int64_t>(rng() % 7);
      const int64_t a = policy.act(obs, mask, memory, rng);
      REQUIRE(a >= 0);
      REQUIRE(a < 7);
      REQUIRE_MESSAGE(mask[static_cast<size_t>(a)] == 1.f, tandem::core::script_kind_name(k));
      ++seen[a];
    }
    if (k != ScriptKind::kLinear) CHECK(seen.size() == 7);
  }
}

TEST_CASE("scripted policies: random is uniform over the allowed actions") {
  std::mt19937_64 rng(5);
  const ScriptedPolicy policy(ScriptKind::kRandom, kBoard, kColumns);
  const auto mask = mask_of({1, 4, 6});
  std::map<int64_t, int> seen;
  ScriptMemory memory;
  const std::vector<float> obs(84, 0.f);
  for (int i = 0; i < 30000; ++i) ++seen[policy.act(obs, mask, memory, rng)];
  REQUIRE(seen.size() == 3);
  for (const auto& [a, count] : seen) CHECK(count == doctest::Approx(10000).epsilon(0.05));
}

TEST_CASE("scripted policies: linear takes the leftmost allowed column") {
  std::mt19937_64 rng(1);
  const ScriptedPolicy policy(ScriptKind::kLinear, kBoard, kColumns);
  ScriptMemory memory;
  const std::vector<float> obs(84, 0.f);
  CHECK(policy.act(obs, {}, memory, rng) == 0);
  CHECK(policy.act(obs, mask_of({3, 5}), memory, rng) == 3);
  CHECK(policy.act(obs, mask_of({6}), memory, rng) == 6);
}

TEST_CASE("scripted policies: always_same keeps one column per episode while it is legal") {
  std::mt19937_64 rng(11);
  const ScriptedPolicy policy(ScriptKind::kAlwaysSame, kBoard, kColumns);
  const std::vector<float> obs(84, 0.f);
  std::set<int64_t> firsts;
  for (int episode = 0; episode < 200; ++episode) {
    ScriptMemory memory;  // a new episode
    const int64_t first = policy.act(obs, {}, memory, rng);
    firsts.insert(first);
    for (int i = 0; i < 5; ++i) CHECK(policy.act(obs, {}, memory, rng) == first);
    // Its column fills up: another legal one is drawn and then kept.
    std::vector<float> mask(7, 1.f);
    mask[static_cast<size_t>(first)] = 0.f;
    const int64_t second = policy.act(obs, mask, memory, rng);
    CHECK(second != first);
    for (int i = 0; i < 5; ++i) CHECK(policy.act(obs, mask, memory, rng) == second);
  }
  CHECK(firsts.size() == 7);  // drawn anew per episode
}

TEST_CASE("scripted policies: beat_last answers the opponent's last column") {
  std::mt19937_64 rng(2);
  const ScriptedPolicy policy(ScriptKind::kBeatLast, kBoard, kColumns);
  ConnectFour env;
  env.reset();
  ScriptMemory p1;  // beat_last plays player_1
  env.step({{"player_0", 4}});
  int64_t a = policy.act(env.observation(1), env.action_mask(), p1, rng);
  CHECK(a == 4);  // first move of player_1: the single opponent stone is in column 4
  env.step({{"player_1", a}});
  env.step({{"player_0", 2}});
  a = policy.act(env.observation(1), env.action_mask(), p1, rng);
  CHECK(a == 2);
  env.step({{"player_1", a}});
  env.step({{"player_0", 2}});
  a = policy.act(env.observation(1), env.action_mask(), p1, rng);
  CHECK(a == 2);
  env.step({{"player_1", a}});
  env.step({{"player_0", 2}});
  a = policy.act(env.observation(1), env.action_mask(), p1, rng);
  CHECK(a == 2);
  env.step({{"player_1", a}});  // column 2 is now full (X O X O X O)
  CHECK(env.action_mask()[2] == 0.f);
  env.step({{"player_0", 0}});
  a = policy.act(env.observation(1), env.action_mask(), p1, rng);
  CHECK(a == 0);

  // As player_0 with no opponent stone yet: a random legal column.
  ScriptMemory p0;
  env.reset();
  std::set<int64_t> opening;
  for (int i = 0; i < 200; ++i) {
    ScriptMemory fresh;
    opening.insert(policy.act(env.observation(0), env.action_mask(), fresh, rng));
  }
  CHECK(opening.size() == 7);

  // The opponent's last column is full: a random legal one instead.
  env.set_board_for_test({"O......", "X......", "O......", "X......", "O......", "X......"}, 0);
  ScriptMemory after;
  after.last_opponent_plane.assign(42, 0.f);
  for (int r : {0, 2, 4}) after.last_opponent_plane[static_cast<size_t>(r * 7)] = 1.f;
  after.last_opponent_plane[0] = 0.f;  // the top stone is new
  for (int i = 0; i < 100; ++i) {
    ScriptMemory m = after;
    CHECK(policy.act(env.observation(0), env.action_mask(), m, rng) != 0);
  }
}
