#pragma once
// The self-play league (issue 14), as the reference's SelfPlayCallback runs it in RLlib: one
// trained main policy; in every episode it takes a random seat and the other seats play one
// opponent drawn from the league (the configured opponents, scripted or frozen, and frozen
// snapshots of the main policy; uniformly unless `opponent_weights` / `snapshot_weight` say
// otherwise). After each training iteration the main policy's win
// rate over that iteration's games decides whether a new snapshot joins.
//
// Data flow (the server's request handler and learner call it; nothing here knows torch or
// the network):
//   StartEpisode -> seat(evaluation)    training games: a random seat, a member drawn by weight;
//                                       evaluation (explore=false) games: round robin over
//                                       evaluation_opponents x seats (equal games per pair)
//   EndEpisode   -> record(seating, returns)   win, draw or loss of the main policy
//   result row   -> end_iteration(install)     the iteration's tallies; above the threshold
//                                              (with at least min_games) `install(slot)` copies
//                                              the main weights into that slot's policy, then
//                                              the snapshot joins as "<main>_v<N>"
//   checkpoint   -> state() / restore_state()
// Snapshots live in slot policies fixed at start ("<main>_slot1".."<main>_slotK", K =
// max_opponents - opponents), so the policy table never changes while the server runs; a full
// league refills the slot of its oldest snapshot (which leaves the league).
// Thread-safe: every public method takes mu_.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tandem::core {

struct LeagueConfig {
  std::string main_policy = "learned";           // the trained policy
  std::vector<std::string> seats;                // agent ids of one game ("player_0", "player_1")
  std::vector<std::string> opponents;            // first members: hosted policies (scripted or frozen)
  std::vector<std::string> evaluation_opponents; // explore=false games cycle through these (default: opponents)
  double win_rate_threshold = 0.85;              // a snapshot joins when an iteration's win rate is above it
  int64_t max_opponents = 10;                    // members at most, snapshots included
  int64_t min_games = 20;                        // games an iteration needs before its win rate counts
  // Training games draw the member opposite with these relative weights: a configured
  // opponent's own (default 1), every snapshot `snapshot_weight` (default 1). A weight of 0
  // keeps a member out of training games (it still plays evaluation games); at least one
  // configured opponent must weigh more than 0 (the league may have no snapshot yet).
  std::map<std::string, double> opponent_weights;
  double snapshot_weight = 1.0;

  int num_slots() const { return static_cast<int>(max_opponents) - static_cast<int>(opponents.size()); }
  std::string slot_policy(int slot) const { return main_policy + "_slot" + std::to_string(slot + 1); }
  // Reads and checks the "league" object; `hosted(id)` says whether a policy id is hosted and
  // `scripted(id)` whether it is scripted. Throws std::invalid_argument naming the key.
  static LeagueConfig from_json(const nlohmann::json& j, const std::function<bool(const std::string&)>& hosted,
                                const std::function<bool(const std::string&)>& scripted);
  nlohmann::json to_json() const;
};

// Who plays which seat in one episode.
struct Seating {
  std::string main_seat;                      // the agent id the main policy plays
  std::map<std::string, std::string> policy_of_seat;  // every seat -> policy id
  std::string opponent;                       // the member's policy ("random", "learned_slot2")
  bool evaluation = false;                    // an explore=false game (tallied apart)
};

struct GameTally {
  int64_t games = 0, wins = 0, draws = 0, losses = 0;
  double win_rate() const;  // wins / games; NaN without games
};

// One result row's view of the league. Tallies are keyed by the opponent's policy (a
// configured opponent's id, or a snapshot's slot policy), so the keys stay few and stable
// however many snapshots come and go; `names` gives each member policy's current name.
struct LeagueIteration {
  GameTally all;                                // training games finished since the last row
  std::map<std::string, GameTally> by_opponent; // the same, per opponent policy
  GameTally evaluation;                         // evaluation games
  std::map<std::string, GameTally> evaluation_by_opponent;
  std::vector<std::string> members;             // member names after this iteration, oldest first
  std::map<std::string, std::string> names;     // member policy -> name ("learned_slot2" -> "learned_v7")
  int64_t league_size = 0;                      // members + the main policy (the reference's)
  int64_t snapshots = 0;                        // snapshot members
  std::optional<std::string> added, dropped;    // a snapshot that joined / left at this row
};
// {"win_rate", "games", "wins", "draws", "losses", "size", "snapshots", "members", "added",
//  "dropped", "opponents": {policy: {name, games, wins, draws, losses, win_rate}}}
// ("evaluation" games go under the row's "evaluation" object: evaluation_league_json).
nlohmann::json league_json(const LeagueIteration& it);
nlohmann::json evaluation_league_json(const LeagueIteration& it);

class League {
 public:
  League(LeagueConfig config, uint64_t seed);
  const LeagueConfig& config() const { return config_; }

  // The seats of a new episode.
  Seating seat(bool evaluation);
  // A finished game: `returns` per agent id of the agents that acted in it. The main policy
  // wins when its return is above every other seat's, loses when one is above it. Not
  // counted unless every seat has an entry.
  void record(const Seating& seating, const std::map<std::string, double>& returns);
  // Takes this iteration's tallies. With `judge` (a training iteration) and a win rate above
  // the threshold over at least min_games games, a snapshot joins: install(slot) must put the
  // main policy's weights into config().slot_policy(slot) before the member is drawn.
  LeagueIteration end_iteration(bool judge, const std::function<void(int slot)>& install);
  // The current view without taking anything (for /metrics).
  LeagueIteration peek() const;

  // {"generation": N, "snapshots": [{"name", "slot", "generation"}]} (slot weights are the
  // slot policies' own, in the checkpoint); restore_state throws std::invalid_argument.
  nlohmann::json state() const;
  void restore_state(const nlohmann::json& state);

 private:
  struct Member {
    std::string name;    // the configured policy id, or "<main>_v<generation>"
    std::string policy;  // the policy that plays it
    int slot = -1;       // snapshot slot (-1: a configured opponent)
  };
  double weight_of(const Member& m) const;
  LeagueIteration view_locked() const;

  const LeagueConfig config_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;                 // under mu_
  std::vector<Member> members_;         // configured first, then snapshots oldest first
  int64_t generation_ = 0;              // snapshots made so far
  uint64_t evaluation_games_ = 0;       // round-robin position
  GameTally all_, evaluation_;
  std::map<std::string, GameTally> by_opponent_, evaluation_by_opponent_;
};

}  // namespace tandem::core
