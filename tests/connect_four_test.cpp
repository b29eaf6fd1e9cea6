// Tests of sims/connect_four: PettingZoo connect_four_v3's rules (wins in all four
// directions, draws, full columns masked, illegal moves refused and changing nothing,
// turn order, observation planes from each player's side, rewards at the end).
#include "sims/connect_four.h"

#include <doctest/doctest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using tandem::sims::ConnectFour;
using tandem::sims::StepResult;

constexpr char kP0[] = "player_0";
constexpr char kP1[] = "player_1";

StepResult play(ConnectFour& env, int column) {
  return env.step({{env.to_move_id(), column}});
}

// Plays the columns in order, alternating players from player_0; returns the last result.
StepResult play_all(ConnectFour& env, const std::vector<int>& columns) {
  StepResult r;
  for (int c : columns) r = play(env, c);
  return r;
}

void check_win(const StepResult& r, const ConnectFour& env, int winner) {
  REQUIRE(env.game_over());
  REQUIRE(env.winner().has_value());
  CHECK(*env.winner() == winner);
  CHECK(r.all_done);
  const char* w = winner == 0 ? kP0 : kP1;
  const char* l = winner == 0 ? kP1 : kP0;
  CHECK(r.rewards.at(w) == 1.0f);
  CHECK(r.rewards.at(l) == -1.0f);
  CHECK(r.terminated.at(w));
  CHECK(r.terminated.at(l));
  CHECK(!r.truncated.at(w));
  // Both players get their last observation, so both can end their episode.
  CHECK(r.obs.size() == 2);
}

}  // namespace

TEST_CASE("connect four: reset, turn order and observation planes") {
  ConnectFour env;
  const auto first = env.reset();
  REQUIRE(first.size() == 1);
  REQUIRE(first.count(kP0) == 1);
  CHECK(first.at(kP0) == std::vector<float>(ConnectFour::kObsSize, 0.f));
  CHECK(env.action_mask() == std::vector<float>(7, 1.f));

  auto r = play(env, 3);  // player_0 in column 3: lands on the bottom row (row 5)
  CHECK(env.cell(5, 3) == ConnectFour::Cell::kPlayer0);
  REQUIRE(r.obs.size() == 1);
  REQUIRE(r.obs.count(kP1) == 1);  // only the player to move is asked
  CHECK(r.rewards.at(kP0) == 0.f);
  CHECK(!r.all_done);
  const auto& o1 = r.obs.at(kP1);
  const size_t idx = (5 * 7 + 3) * 2;
  CHECK(o1[idx + 0] == 0.f);  // player_1's own plane: empty
  CHECK(o1[idx + 1] == 1.f);  // opponent plane: player_0's stone
  const auto o0 = env.observation(0);
  CHECK(o0[idx + 0] == 1.f);
  CHECK(o0[idx + 1] == 0.f);

  r = play(env, 3);  // player_1 stacks on top: row 4
  CHECK(env.cell(4, 3) == ConnectFour::Cell::kPlayer1);
  CHECK(r.obs.count(kP0) == 1);
  CHECK(env.last_move(0) == 3);
  CHECK(env.last_move(1) == 3);
  CHECK(env.num_moves() == 2);
}

TEST_CASE("connect four: wins in all four directions") {
  ConnectFour env;
  SUBCASE("horizontal") {
    env.reset();
    // X: 0 1 2 3 on the bottom row; O: 0 1 2 on the row above.
    const auto r = play_all(env, {0, 0, 1, 1, 2, 2, 3});
    check_win(r, env, 0);
  }
  SUBCASE("vertical") {
    env.reset();
    const auto r = play_all(env, {0, 1, 0, 1, 0, 1, 0});
    check_win(r, env, 0);
  }
  SUBCASE("diagonal up-right, won by player_1") {
    env.reset();
    //  O wins on (5,1) (4,2) (3,3) (2,4).
    const auto r = play_all(env, {0, 1, 2, 2, 3, 3, 4, 3, 4, 4, 6, 4});
    check_win(r, env, 1);
  }
  SUBCASE("diagonal down-right, completed in its middle") {
    env.set_board_for_test({".......",
                            ".......",
                            "X......",
                            "OX.....",
                            "OOX....",
                            "XOOX..."}, 0);
    CHECK(env.game_over());  // (2,0) (3,1) (4,2) (5,3): already four for X
    CHECK(*env.winner() == 0);
    env.set_board_for_test({".......",
                            ".......",
                            "X......",
                            "OX.....",
                            "OO.....",
                            "XOOX..."}, 0);
    CHECK(!env.game_over());
    const auto r = play(env, 2);  // lands on (4,2): completes (2,0) (3,1) (4,2) (5,3)
    check_win(r, env, 0);
  }
}

TEST_CASE("connect four: a full board without four in a row is a draw") {
  ConnectFour env;
  env.reset();
  // Columns filled in pairs in an order that never lines up four: X O X O X O per column
  // pattern shifted between column groups.
  const std::vector<int> order = {0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0,
                                  2, 3, 2, 3, 2, 3, 3, 2, 3, 2, 3, 2,
                                  4, 5, 4, 5, 4, 5, 5, 4, 5, 4, 5, 4,
                                  6, 6, 6, 6, 6, 6};
  StepResult r;
  for (size_t i = 0; i < order.size(); ++i) {
    REQUIRE_MESSAGE(!env.game_over(), "ended early at move " << i);
    r = play(env, order[i]);
  }
  REQUIRE(env.game_over());
  CHECK(!env.winner().has_value());
  CHECK(env.num_moves() == 42);
  CHECK(r.all_done);
  CHECK(r.rewards.at(kP0) == 0.f);
  CHECK(r.rewards.at(kP1) == 0.f);
  CHECK(r.terminated.at(kP0));
  CHECK(r.terminated.at(kP1));
  CHECK(env.action_mask() == std::vector<float>(7, 0.f));
}

TEST_CASE("connect four: full columns are masked and illegal moves change nothing") {
  ConnectFour env;
  env.reset();
  play_all(env, {2, 2, 2, 2, 2, 2});  // column 2 full, no four (alternating)
  CHECK(!env.game_over());
  std::vector<float> expect(7, 1.f);
  expect[2] = 0.f;
  CHECK(env.action_mask() == expect);

  const auto before = env.observation(0);
  const int mover = env.to_move();
  CHECK_THROWS_AS(play(env, 2), std::invalid_argument);  // full column
  CHECK_THROWS_AS(play(env, 7), std::invalid_argument);  // outside 0..6
  CHECK_THROWS_AS(play(env, -1), std::invalid_argument);
  const char* other = mover == 0 ? kP1 : kP0;
  CHECK_THROWS_AS(env.step({{other, 0}}), std::invalid_argument);                 // out of turn
  CHECK_THROWS_AS(env.step({{kP0, 0}, {kP1, 1}}), std::invalid_argument);         // two actions
  CHECK_THROWS_AS(env.step({}), std::invalid_argument);                           // none
  CHECK_THROWS_AS(env.step({{"player_2", 0}}), std::invalid_argument);            // unknown
  CHECK(env.observation(0) == before);
  CHECK(env.to_move() == mover);
  CHECK(env.num_moves() == 6);

  // After the end, every step is refused until reset().
  env.reset();
  play_all(env, {0, 1, 0, 1, 0, 1, 0});
  REQUIRE(env.game_over());
  CHECK_THROWS_AS(play(env, 3), std::invalid_argument);
  env.reset();
  CHECK(!env.game_over());
}

TEST_CASE("connect four: random legal games always end, with consistent rewards") {
  ConnectFour env;
  std::mt19937_64 rng(7);
  int wins[2] = {0, 0}, draws = 0;
  for (int game = 0; game < 2000; ++game) {
    env.reset();
    StepResult r;
    while (!env.game_over()) {
      const auto mask = env.action_mask();
      std::vector<int> legal;
      for (int c = 0; c < 7; ++c) {
        if (mask[static_cast<size_t>(c)] != 0.f) legal.push_back(c);
      }
      REQUIRE(!legal.empty());
      r = play(env, legal[rng() % legal.size()]);
    }
    CHECK(r.all_done);
    if (env.winner()) {
      ++wins[*env.winner()];
      CHECK(r.rewards.at(kP0) + r.rewards.at(kP1) == 0.f);
    } else {
      ++draws;
      CHECK(env.num_moves() == 42);
    }
    CHECK(env.num_moves() >= 7);
  }
  // Random play: the first mover wins more often; both win sometimes.
  CHECK(wins[0] > wins[1]);
  CHECK(wins[1] > 0);
  CHECK(wins[0] + wins[1] + draws == 2000);
}

TEST_CASE("connect four: the test board picture is checked") {
  ConnectFour env;
  CHECK_THROWS_AS(env.set_board_for_test({".......", ".......", ".......", ".......", "X......",
                                          "......."}, 0),
                  std::invalid_argument);  // floating stone
  CHECK_THROWS_AS(env.set_board_for_test({"......", ".......", ".......", ".......", ".......",
                                          "......."}, 0),
                  std::invalid_argument);  // short row
  CHECK_THROWS_AS(env.set_board_for_test({".......", ".......", ".......", ".......", ".......",
                                          "..Z...."}, 0),
                  std::invalid_argument);
}
