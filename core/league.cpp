#include "core/league.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tandem::core {
namespace {
[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

std::vector<std::string> id_list(const nlohmann::json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (!v.is_array()) bad("'league." + key + "' must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string() || e.get<std::string>().empty()) bad("'league." + key + "' must be a list of non-empty strings");
    if (std::find(out.begin(), out.end(), e.get<std::string>()) != out.end())
      bad("'league." + key + "' lists '" + e.get<std::string>() + "' twice");
    out.push_back(e.get<std::string>());
  }
  return out;
}

nlohmann::json tally_json(const GameTally& t) {
  const double w = t.win_rate();
  return nlohmann::json{{"games", t.games},
          {"wins", t.wins},
          {"draws", t.draws},
          {"losses", t.losses},
          {"win_rate", std::isfinite(w) ? nlohmann::json(w) : nlohmann::json()}};
}
}  // namespace

double GameTally::win_rate() const {
  return games > 0 ? static_cast<double>(wins) / static_cast<double>(games) : std::nan("");
}

LeagueConfig LeagueConfig::from_json(const nlohmann::json& j, const std::function<bool(const std::string&)>& hosted,
                                     const std::function<bool(const std::string&)>& scripted) {
  static const std::set<std::string> known = {"main_policy", "seats", "opponents", "evaluation_opponents",
                                              "win_rate_threshold", "max_opponents", "min_games",
                                              "opponent_weights", "snapshot_weight"};
  if (!j.is_object()) bad("'league' must be a JSON object");
  for (const auto& [k, v] : j.items())
    if (!known.count(k))
      bad("unknown key 'league." + k +
          "' (known: evaluation_opponents, main_policy, max_opponents, min_games, opponent_weights, "
          "opponents, seats, snapshot_weight, win_rate_threshold)");
  LeagueConfig c;
  try {
    if (j.contains("main_policy")) c.main_policy = j.at("main_policy").get<std::string>();
    if (j.contains("win_rate_threshold")) c.win_rate_threshold = j.at("win_rate_threshold").get<double>();
    if (j.contains("max_opponents")) c.max_opponents = j.at("max_opponents").get<int64_t>();
    if (j.contains("min_games")) c.min_games = j.at("min_games").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    bad("'league': main_policy must be a string, win_rate_threshold a number, max_opponents and "
        "min_games whole numbers");
  }
  if (!hosted(c.main_policy)) bad("'league.main_policy' names a policy that is not hosted: '" + c.main_policy + "'");
  if (scripted(c.main_policy)) bad("'league.main_policy' is scripted: the league needs a learned policy");
  if (!j.contains("seats")) bad("'league.seats' is required (the agent ids of one game)");
  c.seats = id_list(j, "seats");
  if (c.seats.size() < 2) bad("'league.seats' needs at least two agent ids");
  if (!j.contains("opponents")) bad("'league.opponents' is required (the policies the league starts with)");
  c.opponents = id_list(j, "opponents");
  if (c.opponents.empty()) bad("'league.opponents' needs at least one policy");
  for (const auto& o : c.opponents) {
    if (!hosted(o)) bad("'league.opponents' names a policy that is not hosted: '" + o + "'");
    if (o == c.main_policy) bad("'league.opponents' names the main policy '" + o + "'");
  }
  c.evaluation_opponents = j.contains("evaluation_opponents") ? id_list(j, "evaluation_opponents") : c.opponents;
  if (c.evaluation_opponents.empty()) bad("'league.evaluation_opponents' needs at least one policy");
  for (const auto& o : c.evaluation_opponents) {
    if (!hosted(o) || o == c.main_policy)
      bad("'league.evaluation_opponents' names '" + o + "', which is not a hosted opponent");
  }
  if (!(c.win_rate_threshold >= 0.0 && c.win_rate_threshold < 1.0))
    bad("'league.win_rate_threshold' must be in [0, 1) (a win rate above it adds a snapshot)");
  if (c.max_opponents <= static_cast<int64_t>(c.opponents.size()) || c.max_opponents > 64)
    bad("'league.max_opponents' must be above the number of opponents (" + std::to_string(c.opponents.size()) +
        ", room for snapshots) and at most 64");
  if (c.min_games < 1 || c.min_games > 1000000) bad("'league.min_games' must be in 1..1000000");
  auto weight = [](const nlohmann::json& v, const std::string& key) {
    if (!v.is_number()) bad("'league." + key + "' must be a number in [0, 1000]");
    const double w = v.get<double>();
    if (!(w >= 0.0 && w <= 1000.0)) bad("'league." + key + "' must be a number in [0, 1000]");
    return w;
  };
  if (j.contains("snapshot_weight")) c.snapshot_weight = weight(j.at("snapshot_weight"), "snapshot_weight");
  if (j.contains("opponent_weights")) {
    const auto& w = j.at("opponent_weights");
    if (!w.is_object()) bad("'league.opponent_weights' must be an object: opponent policy -> weight");
    for (const auto& [id, v] : w.items()) {
      if (std::find(c.opponents.begin(), c.opponents.end(), id) == c.opponents.end())
        bad("'league.opponent_weights' names '" + id + "', which is not in 'league.opponents'");
      c.opponent_weights[id] = weight(v, "opponent_weights." + id);
    }
  }
  // Snapshots come and go: a configured opponent must always be there to draw.
  if (std::none_of(c.opponents.begin(), c.opponents.end(), [&](const std::string& o) {
        auto w = c.opponent_weights.find(o);
        return w == c.opponent_weights.end() || w->second > 0.0;
      }))
    bad("'league.opponent_weights' leaves no configured opponent to draw (every weight is 0)");
  return c;
}

nlohmann::json LeagueConfig::to_json() const {
  return {{"main_policy", main_policy},        {"seats", seats},
          {"opponents", opponents},            {"evaluation_opponents", evaluation_opponents},
          {"win_rate_threshold", win_rate_threshold}, {"max_opponents", max_opponents},
          {"min_games", min_games}, {"opponent_weights", opponent_weights},
          {"snapshot_weight", snapshot_weight}};
}

nlohmann::json league_json(const LeagueIteration& it) {
  auto j = tally_json(it.all);
  j["size"] = it.league_size;
  j["snapshots"] = it.snapshots;
  j["members"] = it.members;
  j["added"] = it.added ? nlohmann::json(*it.added) : nlohmann::json();
  j["dropped"] = it.dropped ? nlohmann::json(*it.dropped) : nlohmann::json();
  nlohmann::json by = nlohmann::json::object();
  for (const auto& [policy, t] : it.by_opponent) {
    by[policy] = tally_json(t);
    auto n = it.names.find(policy);
    by[policy]["name"] = n != it.names.end() ? n->second : policy;  // a snapshot that left: its slot
  }
  j["opponents"] = by;
  return j;
}

nlohmann::json evaluation_league_json(const LeagueIteration& it) {
  auto j = tally_json(it.evaluation);
  nlohmann::json by = nlohmann::json::object();
  for (const auto& [name, t] : it.evaluation_by_opponent) by[name] = tally_json(t);
  j["opponents"] = by;
  return j;
}

League::League(LeagueConfig config, uint64_t seed) : config_(std::move(config)), rng_(seed ^ 0x1ea6e5eedull) {
  for (const auto& o : config_.opponents) members_.push_back({o, o, -1});
}

Seating League::seat(bool evaluation) {
  std::lock_guard lk(mu_);
  Seating s;
  s.evaluation = evaluation;
  const size_t n_seats = config_.seats.size();
  std::string opponent_policy;
  if (evaluation) {  // round robin: each opponent plays every seat once, then the next one
    const uint64_t g = evaluation_games_++;
    s.main_seat = config_.seats[g % n_seats];
    opponent_policy = config_.evaluation_opponents[(g / n_seats) % config_.evaluation_opponents.size()];
  } else {
    s.main_seat = config_.seats[std::uniform_int_distribution<size_t>(0, n_seats - 1)(rng_)];
    std::vector<double> weights;
    for (const auto& m : members_) weights.push_back(weight_of(m));
    opponent_policy = members_[std::discrete_distribution<size_t>(weights.begin(), weights.end())(rng_)].policy;
  }
  s.opponent = opponent_policy;
  for (const auto& seat : config_.seats)
    s.policy_of_seat[seat] = seat == s.main_seat ? config_.main_policy : opponent_policy;
  return s;
}

double League::weight_of(const Member& m) const {
  if (m.slot >= 0) return config_.snapshot_weight;
  auto w = config_.opponent_weights.find(m.policy);
  return w != config_.opponent_weights.end() ? w->second : 1.0;
}

void League::record(const Seating& seating, const std::map<std::string, double>& returns) {
  // A seat that never played (no step, no reward: the simulator named its agents otherwise,
  // or ended the episode at once) makes it no game of the league.
  for (const auto& seat : config_.seats)
    if (!returns.count(seat)) return;
  auto ret = [&](const std::string& seat) { return returns.at(seat); };
  const double mine = ret(seating.main_seat);
  double best_other = -INFINITY;
  for (const auto& seat : config_.seats)
    if (seat != seating.main_seat) best_other = std::max(best_other, ret(seat));
  std::lock_guard lk(mu_);
  GameTally& total = seating.evaluation ? evaluation_ : all_;
  GameTally& vs = (seating.evaluation ? evaluation_by_opponent_ : by_opponent_)[seating.opponent];
  for (GameTally* t : {&total, &vs}) {
    ++t->games;
    if (mine > best_other)
      ++t->wins;
    else if (mine < best_other)
      ++t->losses;
    else
      ++t->draws;
  }
}

LeagueIteration League::view_locked() const {
  LeagueIteration it;
  it.all = all_;
  it.by_opponent = by_opponent_;
  it.evaluation = evaluation_;
  it.evaluation_by_opponent = evaluation_by_opponent_;
  for (const auto& m : members_) {
    it.members.push_back(m.name);
    it.names[m.policy] = m.name;
    it.snapshots += m.slot >= 0;
  }
  it.league_size = static_cast<int64_t>(members_.size()) + 1;
  return it;
}

LeagueIteration League::peek() const {
  std::lock_guard lk(mu_);
  return view_locked();
}

LeagueIteration League::end_iteration(bool judge, const std::function<void(int slot)>& install) {
  std::lock_guard lk(mu_);
  std::optional<std::string> added, dropped;
  if (judge && all_.games >= config_.min_games && all_.win_rate() > config_.win_rate_threshold) {
    // A free slot, or the oldest snapshot's (it leaves the league).
    std::vector<char> used(static_cast<size_t>(config_.num_slots()), 0);
    for (const auto& m : members_)
      if (m.slot >= 0) used[static_cast<size_t>(m.slot)] = 1;
    int slot = static_cast<int>(std::find(used.begin(), used.end(), 0) - used.begin());
    if (slot == config_.num_slots()) {
      auto oldest = std::find_if(members_.begin(), members_.end(), [](const Member& m) { return m.slot >= 0; });
      slot = oldest->slot;
      dropped = oldest->name;
      members_.erase(oldest);
    }
    install(slot);
    const std::string name = config_.main_policy + "_v" + std::to_string(++generation_);
    members_.push_back({name, config_.slot_policy(slot), slot});
    added = name;
  }
  auto it = view_locked();
  it.added = std::move(added);
  it.dropped = std::move(dropped);
  all_ = evaluation_ = {};
  by_opponent_.clear();
  evaluation_by_opponent_.clear();
  return it;
}

nlohmann::json League::state() const {
  std::lock_guard lk(mu_);
  nlohmann::json snaps = nlohmann::json::array();
  for (const auto& m : members_)
    if (m.slot >= 0) snaps.push_back({{"name", m.name}, {"slot", m.slot}});
  return {{"generation", generation_}, {"snapshots", snaps}};
}

void League::restore_state(const nlohmann::json& state) {
  std::vector<Member> members;
  for (const auto& o : config_.opponents) members.push_back({o, o, -1});
  int64_t generation = 0;
  try {
    generation = state.at("generation").get<int64_t>();
    std::vector<char> used(static_cast<size_t>(std::max(0, config_.num_slots())), 0);
    for (const auto& s : state.at("snapshots")) {
      const int slot = s.at("slot").get<int>();
      if (slot < 0 || slot >= config_.num_slots() || used[static_cast<size_t>(slot)])
        bad("snapshot slot " + std::to_string(slot) + " is out of range or used twice (this league has " +
            std::to_string(config_.num_slots()) + " slots)");
      used[static_cast<size_t>(slot)] = 1;
      members.push_back({s.at("name").get<std::string>(), config_.slot_policy(slot), slot});
    }
  } catch (const nlohmann::json::exception& e) {
    bad(std::string("the league state is unreadable: ") + e.what());
  }
  std::lock_guard lk(mu_);
  members_ = std::move(members);
  generation_ = generation;
}

}  // namespace tandem::core
