// Connect Four against a real tandem-server process: masks end to end (no masked action from
// the learned policy over many thousands of samples, greedy and sampled, remote and local
// inference, masks that leave one action), scripted opponents served by the server with
// their per-episode memory (beat_last answers the last column), training on masked
// experience, and the config checks of scripted policies.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "policy_server/server_config.h"
#include "sims/connect_four.h"
#include "support/raw_client.h"
#include "support/requests.h"
#include "support/server_process.h"
#include "support/uniform_report.h"

using namespace tandem;
using sims::ConnectFour;

namespace {

nlohmann::json connect_four_config(const std::string& name, const std::string& opponent) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3,
    "config": {"train_batch_size": 400, "sgd_minibatch_size": 100, "num_sgd_iter": 2,
               "rollout_fragment_length": 50, "model": {"fcnet_hiddens": [32]}},
    "policies": {
      "learned": {"observation_space": {"type": "box", "shape": [6, 7, 2], "low": 0, "high": 1},
                  "action_space": {"type": "discrete", "n": 7}},
      "opponent": {"observation_space": {"type": "box", "shape": [6, 7, 2], "low": 0, "high": 1},
                   "action_space": {"type": "discrete", "n": 7}}
    },
    "policy_mapping": {"player_0": "learned", "player_1": "opponent", "agent0": "learned"}
  })");
  j["policies"]["opponent"]["scripted"] = opponent;
  j["results_dir"] = test::results_path(name) + "/results";
  return j;
}

bool allowed(const std::vector<float>& mask, int64_t a) {
  return a >= 0 && a < static_cast<int64_t>(mask.size()) && mask[static_cast<size_t>(a)] != 0.f;
}

// Plays `games` games, learned (player_0) against the server's scripted opponent (player_1).
// Every action is checked against the mask; `check_opponent(env_before_move, action)` sees
// each of the opponent's moves. Returns player_0's wins.
template <class F>
int play_games(client::PolicyClient& c, int games, bool explore, F check_opponent) {
  ConnectFour env;
  int wins = 0;
  for (int g = 0; g < games; ++g) {
    const auto ep = c.start_episode(std::nullopt, true, explore);
    auto obs = env.reset();
    sims::StepResult r;
    while (!env.game_over()) {
      const std::string mover = env.to_move_id();
      const auto mask = env.action_mask();
      const auto a = c.get_action(ep, {{mover, obs.at(mover)}}, {{mover, mask}}).at(mover).as_int();
      REQUIRE_MESSAGE(allowed(mask, a), mover << " chose masked column " << a);
      if (mover == ConnectFour::kPlayer1) check_opponent(env, a);
      r = env.step({{mover, a}});
      c.log_returns(ep, r.rewards);
      obs = r.obs;
    }
    c.end_episode(ep, r.obs);
    wins += env.winner() == 0;
  }
  c.flush();
  return wins;
}

// Many single-agent samples of the learned policy under random masks (every third leaves one
// action), `batch` environments per round trip. Returns how often each action came.
std::map<int64_t, int> sample_masked(client::PolicyClient& c, int rounds, int batch, bool explore,
                                     std::mt19937_64& rng) {
  std::vector<std::string> eps;
  for (int i = 0; i < batch; ++i) eps.push_back(c.start_episode(std::nullopt, true, explore));
  std::vector<std::vector<float>> obs(static_cast<size_t>(batch)), masks(static_cast<size_t>(batch));
  std::map<int64_t, int> seen;
  for (int round = 0; round < rounds; ++round) {
    std::vector<client::EpisodeObs> in;
    for (int i = 0; i < batch; ++i) {
      auto& o = obs[static_cast<size_t>(i)];
      auto& m = masks[static_cast<size_t>(i)];
      o.assign(84, 0.f);
      for (auto& x : o) x = static_cast<float>(rng() % 4 == 0);
      m.assign(7, 0.f);
      if ((round + i) % 3 == 0) {
        m[rng() % 7] = 1.f;
      } else {
        for (auto& x : m) x = static_cast<float>(rng() & 1);
        m[rng() % 7] = 1.f;
      }
      in.push_back({eps[static_cast<size_t>(i)], o, m});
    }
    const auto actions = c.get_actions(in);
    REQUIRE(actions.size() == static_cast<size_t>(batch));
    for (int i = 0; i < batch; ++i) {
      const int64_t a = actions[static_cast<size_t>(i)].as_int();
      REQUIRE_MESSAGE(allowed(masks[static_cast<size_t>(i)], a), "masked action " << a);
      ++seen[a];
    }
  }
  for (const auto& e : eps) c.end_episode(e, std::vector<float>(84, 0.f));
  c.flush();
  return seen;
}

// The message parse_server_config refuses `j` with ("" when it accepts it).
std::string config_error(const nlohmann::json& j) {
  try {
    server::parse_server_config(j);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("connect four: masks hold end to end and beat_last is served with its memory") {
  const std::string name = "connect_four_server";
  test::ServerProcess s(connect_four_config(name, "beat_last"), name);
  std::mt19937_64 rng(9);
  for (auto mode : {client::InferenceMode::Remote, client::InferenceMode::Local}) {
    CAPTURE(mode == client::InferenceMode::Local);
    client::PolicyClient c(s.address(), mode);
    int answered = 0, checked = 0;
    auto beat_last = [&](const ConnectFour& before, int64_t a) {
      const int last = before.last_move(0);
      if (last >= 0 && before.action_mask()[static_cast<size_t>(last)] != 0.f) {
        ++checked;
        answered += a == last;
      }
    };
    play_games(c, 30, true, beat_last);
    play_games(c, 10, false, beat_last);
    CHECK(checked > 100);
    CHECK(answered == checked);  // always the column player_0 just played, when legal

    // The learned policy under random masks: sampled and greedy, thousands of draws.
    const auto sampled = sample_masked(c, 40, 64, true, rng);
    CHECK(sampled.size() == 7);
    const auto greedy = sample_masked(c, 20, 64, false, rng);
    int total = 0;
    for (const auto& [a, n] : greedy) total += n;
    CHECK(total == 20 * 64);
  }
  // Training ran on the masked experience of the learned policy, with no error and no
  // skipped batch; the scripted policy kept its version 0 (never trained).
  REQUIRE(test::eventually([&] { return s.metric("tandem_training_iteration") >= 2; }));
  CHECK(s.metric("tandem_learner_errors_total") == 0);
  CHECK(s.stop() == 0);
}

TEST_CASE("connect four: every scripted opponent plays legal moves from the server") {
  for (const char* opponent : {"random", "always_same", "linear"}) {
    CAPTURE(opponent);
    const std::string name = std::string("connect_four_") + opponent;
    auto cfg = connect_four_config(name, opponent);
    test::ServerProcess s(cfg, name, {"--no-train"});
    client::PolicyClient c(s.address());
    std::map<int64_t, int> first_moves;
    int same = 0, same_checked = 0;
    int64_t kept = -1;
    auto check = [&](const ConnectFour& before, int64_t a) {
      const auto mask = before.action_mask();
      if (before.num_moves() == 1) {
        ++first_moves[a];
        kept = a;
      }
      if (std::string(opponent) == "linear") {
        int64_t leftmost = 0;
        while (mask[static_cast<size_t>(leftmost)] == 0.f) ++leftmost;
        CHECK(a == leftmost);
      }
      if (std::string(opponent) == "always_same" && before.num_moves() > 1) {
        if (allowed(mask, kept)) {
          ++same_checked;
          same += a == kept;
        }
        kept = a;
      }
    };
    play_games(c, 40, true, check);
    if (std::string(opponent) == "linear") CHECK(first_moves.size() == 1);
    if (std::string(opponent) != "linear") CHECK(first_moves.size() >= 4);  // drawn per episode
    if (std::string(opponent) == "always_same") {
      CHECK(same_checked > 50);
      CHECK(same == same_checked);
    }
    CHECK(s.stop() == 0);
  }
}

TEST_CASE("connect four: the config checks of scripted policies") {
  auto j = connect_four_config("unused", "beat_last");
  CHECK(config_error(j).empty());
  CHECK(server::parse_server_config(j).policies[1].script == core::ScriptKind::kBeatLast);
  j["policies"]["opponent"]["scripted"] = "minimax";
  CHECK(config_error(j).find("must be one of") != std::string::npos);
  j["policies"]["opponent"]["scripted"] = 3;
  CHECK(config_error(j).find("must be one of") != std::string::npos);
  j = connect_four_config("unused", "beat_last");
  j["policies"]["opponent"]["observation_space"] = {{"type", "box"}, {"shape", {84}}};
  CHECK(config_error(j).find("beat_last") != std::string::npos);
  j = connect_four_config("unused", "random");
  j["policies"]["opponent"]["action_space"] = {{"type", "box"}, {"shape", {2}}};
  CHECK(config_error(j).find("Discrete") != std::string::npos);
  j = connect_four_config("unused", "random");
  j["policies_to_train"] = {"opponent"};
  CHECK(config_error(j).find("scripted policy") != std::string::npos);
  j = connect_four_config("unused", "random");
  j["policies"]["learned"]["scripted"] = "linear";
  CHECK(config_error(j).find("every policy is scripted") != std::string::npos);
}

TEST_CASE("connect four league: slots in the server config, to_json round trip, refused configs") {
  auto league_config = [] {
    auto j = connect_four_config("unused", "linear");
    j.erase("policy_mapping");  // the league seats the players; others go to its main policy
    j["league"] = {{"seats", {"player_0", "player_1"}}, {"opponents", {"opponent"}}, {"max_opponents", 3}};
    return j;
  };
  const auto c = server::parse_server_config(league_config());
  REQUIRE(c.policies.size() == 4);
  CHECK(c.policies[2].policy_id == "learned_slot1");
  CHECK(c.policies[3].policy_id == "learned_slot2");
  CHECK(c.policies[3].observation_space.to_json() == c.policies[0].observation_space.to_json());
  CHECK(c.is_league_slot("learned_slot2"));
  CHECK_FALSE(c.is_trained("learned_slot1"));
  CHECK(c.is_trained("learned"));
  REQUIRE(c.policy_mapping.rule("*") != nullptr);
  CHECK(*c.policy_mapping.rule("*") == "learned");
  // A checkpoint's config: the policies as written and the league, which makes its slots again.
  const auto j = c.to_json();
  CHECK_FALSE(j["policies"].contains("learned_slot1"));
  CHECK(server::parse_server_config(j).policies.size() == 4);
  auto bad = league_config();
  bad["policies"]["learned_slot1"] = bad["policies"]["learned"];
  bad["policy_mapping"] = {{"*", "learned"}};
  CHECK(config_error(bad).find("also a configured policy") != std::string::npos);
  bad = league_config();
  bad["policies_to_train"] = {"opponent2"};
  bad["policies"]["opponent2"] = bad["policies"]["learned"];
  CHECK(config_error(bad).find("main policy") != std::string::npos);
  bad = league_config();
  bad["league"]["opponents"] = {"learned"};
  CHECK(config_error(bad).find("main policy") != std::string::npos);
}

TEST_CASE("connect four league: games seated by the server in remote mode; local clients refused") {
  const std::string name = "connect_four_league";
  auto j = connect_four_config(name, "linear");
  j.erase("policy_mapping");
  j["league"] = {{"seats", {"player_0", "player_1"}}, {"opponents", {"opponent"}}, {"max_opponents", 3},
                 {"min_games", 5}, {"win_rate_threshold", 0.99}};  // no snapshot: linear opposite
  j["config"]["train_batch_size"] = 100;
  test::ServerProcess s(j, name);
  try {
    client::PolicyClient local(s.address(), client::InferenceMode::Local);
    FAIL("a local client connected to a league server");
  } catch (const client::ConnectionError& e) {
    CHECK(std::string(e.what()).find("self-play league") != std::string::npos);
  }
  // Real games: whoever is to move asks; the server decides who answers. `linear` plays
  // the leftmost legal column, so a seat that always did is the one the league gave it.
  // The server refuses a local client's experience too (it never asked for seats).
  {
    test::RawClient raw(s.port(), "local-impostor");
    REQUIRE(test::started(raw.call(1, core::StartEpisode{"e1"}), "e1"));
    const auto r = raw.call(2, test::uniform_report("e1", 3, std::vector<float>(84, 0.f), 7, true, "player_0"));
    const auto* e = std::get_if<core::Error>(&r);
    REQUIRE_MESSAGE(e, test::describe(r));
    CHECK(std::string(e->message).find("self-play league") != std::string::npos);
  }
  client::PolicyClient c(s.address(), client::InferenceMode::Remote);
  int linear_seats = 0;
  std::map<std::string, int> linear_at;
  for (int g = 0; g < 60; ++g) {
    ConnectFour env;
    const auto ep = c.start_episode();
    auto obs = env.reset();
    std::map<std::string, bool> leftmost{{"player_0", true}, {"player_1", true}};
    sims::StepResult r;
    while (!env.game_over()) {
      const std::string mover = env.to_move_id();
      const auto mask = env.action_mask();
      const auto a = c.get_action(ep, {{mover, obs.at(mover)}}, {{mover, mask}}).at(mover).as_int();
      int first_legal = 0;
      while (mask[static_cast<size_t>(first_legal)] == 0.f) ++first_legal;
      leftmost[mover] = leftmost[mover] && a == first_legal;
      r = env.step({{mover, a}});
      obs = r.obs;
      c.log_returns(ep, r.rewards);
    }
    c.end_episode(ep, r.obs);
    if (leftmost["player_0"] != leftmost["player_1"]) {
      ++linear_seats;
      ++linear_at[leftmost["player_0"] ? "player_0" : "player_1"];
    }
  }
  c.flush();
  // Both seats played by the learned policy (no league) would almost never give one seat
  // that always played the leftmost column over a whole game.
  CHECK(linear_seats >= 55);
  // ... and the league put it on both seats.
  CHECK(linear_at["player_0"] >= 15);
  CHECK(linear_at["player_1"] >= 15);
}
