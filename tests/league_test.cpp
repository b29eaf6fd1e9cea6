// Tests of core/league: the config's checks, seating (random seats and members, uniform or by
// opponent_weights / snapshot_weight, for training games, an exact round robin for
// evaluation games), win/draw/loss tallies, a snapshot added when the win rate crosses the
// threshold (not at it, not below min_games), the oldest snapshot dropped past max_opponents
// with its slot reused, and the state round trip.
#include "core/league.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using tandem::core::League;
using tandem::core::LeagueConfig;
using tandem::core::Seating;

const std::set<std::string> kHosted = {"learned", "random", "linear", "frozen", "learned_slot1", "learned_slot2"};

LeagueConfig parse(const nlohmann::json& j) {
  return LeagueConfig::from_json(
      j, [](const std::string& id) { return kHosted.count(id) > 0; },
      [](const std::string& id) { return id == "random" || id == "linear"; });
}

nlohmann::json base() {
  return {{"main_policy", "learned"},   {"seats", {"player_0", "player_1"}}, {"opponents", {"random", "linear"}},
          {"win_rate_threshold", 0.6}, {"max_opponents", 4},                {"min_games", 10}};
}

// Plays `n` training games in which the main policy wins the first `wins`, draws none.
void play(League& league, int n, int wins) {
  for (int g = 0; g < n; ++g) {
    const Seating s = league.seat(false);
    std::map<std::string, double> r;
    for (const auto& [seat, pol] : s.policy_of_seat) r[seat] = seat == s.main_seat ? (g < wins ? 1 : -1) : (g < wins ? -1 : 1);
    league.record(s, r);
  }
}

}  // namespace

TEST_CASE("league config: defaults, slots and every refused value") {
  const auto c = parse(base());
  CHECK(c.num_slots() == 2);
  CHECK(c.slot_policy(0) == "learned_slot1");
  CHECK(c.evaluation_opponents == std::vector<std::string>{"random", "linear"});
  CHECK(parse(c.to_json()).to_json() == c.to_json());
  auto refused = [](const char* key, const nlohmann::json& value, const char* needle) {
    auto j = base();
    if (value.is_null())
      j.erase(key);
    else
      j[key] = value;
    try {
      parse(j);
      FAIL("accepted league." << key << " = " << value.dump());
    } catch (const std::invalid_argument& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  refused("main_policy", "random", "scripted");
  refused("main_policy", "nope", "not hosted");
  refused("seats", {"player_0"}, "at least two");
  refused("seats", {"player_0", "player_0"}, "twice");
  refused("seats", nullptr, "seats' is required");
  refused("opponents", {"learned"}, "main policy");
  refused("opponents", {"ghost"}, "not hosted");
  refused("opponents", nlohmann::json::array(), "at least one");
  refused("evaluation_opponents", {"learned"}, "not a hosted opponent");
  refused("win_rate_threshold", 1.0, "[0, 1)");
  refused("win_rate_threshold", -0.1, "[0, 1)");
  refused("max_opponents", 2, "above the number of opponents");
  refused("max_opponents", 65, "at most 64");
  refused("min_games", 0, "min_games");
  refused("min_games", "ten", "whole numbers");
  refused("extra", 1, "unknown key 'league.extra'");
  refused("opponent_weights", {{"ghost", 2}}, "not in 'league.opponents'");
  refused("opponent_weights", {{"random", -1}}, "[0, 1000]");
  refused("opponent_weights", {{"random", 1e9}}, "[0, 1000]");
  refused("opponent_weights", {{"random", "2"}}, "[0, 1000]");
  refused("opponent_weights", {{"random", 0}, {"linear", 0}}, "no configured opponent");
  refused("opponent_weights", nlohmann::json::array({2, 1}), "must be an object");
  refused("opponent_weights", {{"random", true}}, "[0, 1000]");
  refused("opponent_weights", {{"random", 0}, {"linear", 1001}}, "[0, 1000]");
  refused("snapshot_weight", -0.5, "[0, 1000]");
  refused("snapshot_weight", 1000.5, "[0, 1000]");
  refused("snapshot_weight", "1", "[0, 1000]");
  refused("snapshot_weight", false, "[0, 1000]");
  {  // tiny weights are weights: accepted
    auto j = base();
    j["opponent_weights"] = {{"random", 1e-17}, {"linear", 0}};
    j["snapshot_weight"] = 0;
    CHECK(parse(j).opponent_weights.at("random") == 1e-17);
  }
}

TEST_CASE("league seating: training games draw seats and members uniformly") {
  League league(parse(base()), 7);
  std::map<std::string, int> seats, opponents;
  for (int g = 0; g < 4000; ++g) {
    const Seating s = league.seat(false);
    CHECK_FALSE(s.evaluation);
    REQUIRE(s.policy_of_seat.size() == 2);
    CHECK(s.policy_of_seat.at(s.main_seat) == "learned");
    for (const auto& [seat, pol] : s.policy_of_seat)
      if (seat != s.main_seat) CHECK(pol == s.opponent);
    ++seats[s.main_seat];
    ++opponents[s.opponent];
  }
  CHECK(seats.size() == 2);
  CHECK(opponents.size() == 2);
  for (const auto& [k, n] : seats) CHECK(std::abs(n - 2000) < 200);
  for (const auto& [k, n] : opponents) CHECK(std::abs(n - 2000) < 200);
}

TEST_CASE("league seating: opponent_weights and snapshot_weight set how often each member plays") {
  auto j = base();
  j["opponent_weights"] = {{"random", 3}, {"linear", 0}};
  j["snapshot_weight"] = 2;
  j["win_rate_threshold"] = 0.0;
  j["min_games"] = 1;
  const auto c = parse(j);
  CHECK(parse(c.to_json()).to_json() == c.to_json());
  League league(c, 11);
  std::map<std::string, int> opponents;
  for (int g = 0; g < 4000; ++g) ++opponents[league.seat(false).opponent];
  CHECK(opponents.size() == 1);  // linear weighs 0: never drawn for training
  CHECK(opponents["random"] == 4000);
  // linear still plays its evaluation games.
  std::set<std::string> eval;
  for (int g = 0; g < 4; ++g) eval.insert(league.seat(true).opponent);
  CHECK(eval == std::set<std::string>{"random", "linear"});
  // One snapshot (weight 2) beside random (weight 3): 2/5 of the games.
  play(league, 10, 10);
  const auto it = league.end_iteration(true, [](int) {});
  REQUIRE(it.added);
  opponents.clear();
  for (int g = 0; g < 10000; ++g) ++opponents[league.seat(false).opponent];
  CHECK(opponents.size() == 2);
  CHECK(std::abs(opponents["learned_slot1"] - 4000) < 300);
  CHECK(std::abs(opponents["random"] - 6000) < 300);
}

TEST_CASE("league seating: evaluation games are an exact round robin of opponents and seats") {
  League league(parse(base()), 1);
  std::map<std::pair<std::string, std::string>, int> pairs;
  for (int g = 0; g < 40; ++g) {
    const Seating s = league.seat(true);
    CHECK(s.evaluation);
    ++pairs[{s.opponent, s.main_seat}];
  }
  REQUIRE(pairs.size() == 4);
  for (const auto& [k, n] : pairs) CHECK(n == 10);
  // Evaluation games are tallied apart and never judged.
  const Seating s = league.seat(true);
  league.record(s, {{"player_0", s.main_seat == "player_0" ? 1.0 : -1.0}, {"player_1", s.main_seat == "player_1" ? 1.0 : -1.0}});
  const auto it = league.end_iteration(true, [](int) { FAIL("an evaluation game added a snapshot"); });
  CHECK(it.evaluation.games == 1);
  CHECK(it.evaluation.wins == 1);
  CHECK(it.evaluation_by_opponent.at(s.opponent).wins == 1);
  CHECK(it.all.games == 0);
}

TEST_CASE("league tallies: win, loss and draw of the main seat, per opponent") {
  League league(parse(base()), 3);
  Seating s = league.seat(false);
  const std::string other = s.main_seat == "player_0" ? "player_1" : "player_0";
  league.record(s, {{s.main_seat, 1.0}, {other, -1.0}});
  league.record(s, {{s.main_seat, -1.0}, {other, 1.0}});
  league.record(s, {{s.main_seat, 0.0}, {other, 0.0}});
  league.record(s, {});                      // no seat played: not a game
  league.record(s, {{s.main_seat, 1.0}});    // one seat never played: not a game
  league.record(s, {{"player_0", 0.0}, {"player_1", 0.0}, {"referee", 5.0}});  // a draw; others do not count
  const auto it = league.end_iteration(false, [](int) { FAIL("judge=false added a snapshot"); });
  CHECK(it.all.games == 4);
  CHECK(it.all.wins == 1);
  CHECK(it.all.losses == 1);
  CHECK(it.all.draws == 2);
  CHECK(it.all.win_rate() == doctest::Approx(0.25));
  CHECK(it.by_opponent.at(s.opponent).games == 4);
  // The tallies were taken.
  CHECK(league.peek().all.games == 0);
  CHECK(std::isnan(league.peek().all.win_rate()));
}

TEST_CASE("league snapshots: added above the threshold, oldest dropped past the cap, slot reused") {
  League league(parse(base()), 11);
  std::vector<int> installed;
  auto install = [&](int slot) { installed.push_back(slot); };

  play(league, 10, 6);  // 0.6: at the threshold, not above it
  auto it = league.end_iteration(true, install);
  CHECK_FALSE(it.added);
  CHECK(it.league_size == 3);

  play(league, 9, 9);  // above it, but fewer than min_games
  CHECK_FALSE(league.end_iteration(true, install).added);

  play(league, 10, 7);
  it = league.end_iteration(true, install);
  REQUIRE(it.added);
  CHECK(*it.added == "learned_v1");
  CHECK_FALSE(it.dropped);
  CHECK(it.members == std::vector<std::string>{"random", "linear", "learned_v1"});
  CHECK(it.snapshots == 1);
  CHECK(it.league_size == 4);

  play(league, 10, 10);
  it = league.end_iteration(true, install);
  CHECK(*it.added == "learned_v2");
  CHECK(it.members == std::vector<std::string>{"random", "linear", "learned_v1", "learned_v2"});

  // Full (max_opponents 4): v1 leaves, v3 takes its slot.
  play(league, 20, 19);
  it = league.end_iteration(true, install);
  CHECK(*it.added == "learned_v3");
  CHECK(*it.dropped == "learned_v1");
  CHECK(it.members == std::vector<std::string>{"random", "linear", "learned_v2", "learned_v3"});
  CHECK(installed == std::vector<int>{0, 1, 0});
  CHECK(it.league_size == 5);

  // The new member is drawn, and plays from its slot's policy; tallies are keyed by policy.
  CHECK(it.names.at("learned_slot1") == "learned_v3");
  CHECK(it.names.at("learned_slot2") == "learned_v2");
  std::set<std::string> drawn;
  for (int g = 0; g < 400; ++g) {
    const Seating s = league.seat(false);
    drawn.insert(s.opponent);
    CHECK(s.policy_of_seat.at(s.main_seat == "player_0" ? "player_1" : "player_0") == s.opponent);
  }
  CHECK(drawn == std::set<std::string>{"random", "linear", "learned_slot1", "learned_slot2"});
  const auto j = tandem::core::league_json(it);
  CHECK(j["opponents"].size() == it.by_opponent.size());
  for (const auto& [policy, o] : j["opponents"].items()) CHECK(o["name"] == (it.names.count(policy) ? it.names.at(policy) : policy));

  // State round trip: a new league carries on with the same members and generation.
  League restored(parse(base()), 99);
  restored.restore_state(league.state());
  CHECK(restored.peek().members == league.peek().members);
  play(restored, 10, 10);
  it = restored.end_iteration(true, install);
  CHECK(*it.added == "learned_v4");
  CHECK(*it.dropped == "learned_v2");
  CHECK(installed.back() == 1);
}

TEST_CASE("league state: a slot out of range or used twice is refused") {
  League league(parse(base()), 1);
  CHECK_THROWS_AS(league.restore_state({{"generation", 3}, {"snapshots", {{{"name", "x"}, {"slot", 2}}}}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(league.restore_state({{"generation", 3},
                                        {"snapshots", {{{"name", "x"}, {"slot", 0}}, {{"name", "y"}, {"slot", 0}}}}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(league.restore_state({{"snapshots", nlohmann::json::array()}}), std::invalid_argument);
  CHECK(league.peek().members == std::vector<std::string>{"random", "linear"});
}
