// The robots-and-chickens yard of RLlib's hierarchical tutorial; see chicken_yard.h.
#include "sims/chicken_yard.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

#include "sims/random_util.h"

namespace tandem::sims {
namespace {

constexpr double kNormTolerance = 1e-6;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// A standard normal by Box-Muller from two uniforms (1 - u is in (0, 1], so log is finite).
double standard_normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform01(rng);
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Uniform on the unit sphere: normalised Gaussian (redrawn in the all-but-impossible case
// of a near-zero vector).
Ocean random_ocean(std::mt19937_64& rng) {
  for (;;) {
    Ocean v{};
    double norm2 = 0.0;
    for (double& c : v) {
      c = standard_normal(rng);
      norm2 += c * c;
    }
    if (norm2 < 1e-12) continue;
    const double norm = std::sqrt(norm2);
    for (double& c : v) c = std::clamp(c / norm, -1.0, 1.0);
    return v;
  }
}

YardPoint random_point(std::mt19937_64& rng) {
  const double x = uniform01(rng);
  return {x, uniform01(rng)};
}

double dot(const Ocean& a, const Ocean& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double distance(const YardPoint& a, const YardPoint& b) { return std::hypot(a.x - b.x, a.y - b.y); }

void append(std::vector<float>& out, const YardPoint& p) {
  out.push_back(static_cast<float>(p.x));
  out.push_back(static_cast<float>(p.y));
}

void append(std::vector<float>& out, const Ocean& o) {
  for (double c : o) out.push_back(static_cast<float>(c));
}

YardPoint moved(const YardPoint& from, int64_t action, double speed) {
  const YardPoint d = ChickenYard::direction(action);
  return {std::clamp(from.x + speed * d.x, 0.0, 1.0), std::clamp(from.y + speed * d.y, 0.0, 1.0)};
}

bool in_unit_square(const YardPoint& p) {
  return p.x >= 0.0 && p.x <= 1.0 && p.y >= 0.0 && p.y <= 1.0;
}

bool unit_norm(const Ocean& o) { return std::abs(std::sqrt(dot(o, o)) - 1.0) <= kNormTolerance; }

}  // namespace

ChickenYard::ChickenYard(const ChickenYardConfig& config) : config_(config), rng_(config.seed) {
  if (config.num_chickens < 1) {
    throw std::invalid_argument("ChickenYard: num_chickens must be >= 1, got " +
                                std::to_string(config.num_chickens));
  }
  if (!(config.speed > 0.0) || !std::isfinite(config.speed)) {
    throw std::invalid_argument("ChickenYard: speed must be finite and > 0");
  }
  if (!(config.catch_radius >= 0.0) || !std::isfinite(config.catch_radius)) {
    throw std::invalid_argument("ChickenYard: catch_radius must be finite and >= 0");
  }
  if (!std::isfinite(config.step_penalty) || !std::isfinite(config.arrival_bonus)) {
    throw std::invalid_argument("ChickenYard: step_penalty and arrival_bonus must be finite");
  }
  if (config.max_steps < 2) {
    throw std::invalid_argument("ChickenYard: max_steps must be >= 2, got " +
                                std::to_string(config.max_steps));
  }
  reset();
}

NamedObsDict ChickenYard::reset() {
  YardLayout l;
  for (int r = 0; r < kNumRobots; ++r) {
    l.robot_positions[static_cast<size_t>(r)] = random_point(rng_);
    l.robot_oceans[static_cast<size_t>(r)] = random_ocean(rng_);
  }
  for (int c = 0; c < config_.num_chickens; ++c) {
    l.chicken_positions.push_back(random_point(rng_));
    l.chicken_oceans.push_back(random_ocean(rng_));
  }
  layout_ = std::move(l);
  return start_episode();
}

NamedObsDict ChickenYard::reset(const YardLayout& layout) {
  const auto n = static_cast<size_t>(config_.num_chickens);
  if (layout.chicken_positions.size() != n || layout.chicken_oceans.size() != n) {
    throw std::invalid_argument("ChickenYard: the layout needs " + std::to_string(n) +
                                " chicken positions and oceans");
  }
  for (size_t r = 0; r < layout.robot_positions.size(); ++r) {
    if (!in_unit_square(layout.robot_positions[r]) || !unit_norm(layout.robot_oceans[r])) {
      throw std::invalid_argument("ChickenYard: " + quoted(robot_id(static_cast<int>(r))) +
                                  " needs a position in [0,1]^2 and a unit-norm ocean");
    }
  }
  for (size_t c = 0; c < n; ++c) {
    if (!in_unit_square(layout.chicken_positions[c]) || !unit_norm(layout.chicken_oceans[c])) {
      throw std::invalid_argument("ChickenYard: chicken " + std::to_string(c) +
                                  " needs a position in [0,1]^2 and a unit-norm ocean");
    }
  }
  layout_ = layout;
  return start_episode();
}

NamedObsDict ChickenYard::start_episode() {
  for (int r = 0; r < kNumRobots; ++r) {
    RobotState& s = robots_[static_cast<size_t>(r)];
    s = RobotState{};
    s.position = layout_.robot_positions[static_cast<size_t>(r)];
    s.path = {s.position};
  }
  env_steps_ = 0;
  episode_over_ = false;
  return {{high_id(0), high_obs(0)}, {high_id(1), high_obs(1)}};
}

void ChickenYard::check_actions(const ActionDict& actions) const {
  const std::vector<AgentId> due = due_agents();
  for (const auto& [agent, action] : actions) {
    if (std::find(due.begin(), due.end(), agent) == due.end()) {
      throw std::invalid_argument(
          "ChickenYard: " + quoted(agent) + " is not due to act" +
          (episode_over_ ? " (the episode is over; call reset())" : " in this step"));
    }
  }
  if (episode_over_) throw std::invalid_argument("ChickenYard: the episode is over; call reset()");
  const int64_t num_actions = env_steps_ == 0 ? config_.num_chickens : kNumDirections;
  for (const AgentId& agent : due) {
    const auto it = actions.find(agent);
    if (it == actions.end()) {
      throw std::invalid_argument("ChickenYard: no action for " + quoted(agent) +
                                  ", which is due in this step");
    }
    if (it->second < 0 || it->second >= num_actions) {
      throw std::invalid_argument("ChickenYard: the action of " + quoted(agent) +
                                  " must be in 0.." + std::to_string(num_actions - 1) + ", got " +
                                  std::to_string(it->second));
    }
  }
}

ChickenYardStep ChickenYard::step(const ActionDict& actions) {
  check_actions(actions);
  ChickenYardStep out;

  if (env_steps_ == 0) {  // the high agents pick their chickens
    for (int r = 0; r < kNumRobots; ++r) {
      robots_[static_cast<size_t>(r)].chosen = static_cast<int>(actions.at(high_id(r)));
      for (const AgentId& id : {high_id(r), low_id(r)}) {
        out.terminated[id] = false;
        out.truncated[id] = false;
      }
      out.obs[low_id(r)] = low_obs(r);
    }
    env_steps_ = 1;
    return out;
  }

  const auto penalty = static_cast<float>(config_.step_penalty);
  const bool time_up = env_steps_ + 1 >= config_.max_steps;
  for (int r = 0; r < kNumRobots; ++r) {
    if (!travelling(r)) continue;
    RobotState& s = robots_[static_cast<size_t>(r)];
    s.position = moved(s.position, actions.at(low_id(r)), config_.speed);
    s.path.push_back(s.position);
    ++s.steps;

    float high_reward = -penalty;
    float low_reward = -penalty;
    s.caught = distance_to_target(r) <= config_.catch_radius;
    if (s.caught) {
      high_reward += static_cast<float>(match(r, s.chosen));
      low_reward += static_cast<float>(config_.arrival_bonus);
    }
    s.high_return += high_reward;
    s.low_return += low_reward;
    out.rewards[high_id(r)] = high_reward;
    out.rewards[low_id(r)] = low_reward;

    const bool cut_off = !s.caught && time_up;
    for (const AgentId& id : {high_id(r), low_id(r)}) {
      out.terminated[id] = s.caught;
      out.truncated[id] = cut_off;
    }
    out.obs[low_id(r)] = low_obs(r);
    if (s.caught || cut_off) out.obs[high_id(r)] = high_obs(r);  // its last observation
  }
  ++env_steps_;

  episode_over_ = time_up || (robots_[0].caught && robots_[1].caught);
  out.all_done = episode_over_;
  return out;
}

AgentId ChickenYard::robot_id(int robot) {
  check_robot(robot);
  return "robot_" + std::to_string(robot + 1);
}

AgentId ChickenYard::high_id(int robot) { return robot_id(robot) + "_high"; }

AgentId ChickenYard::low_id(int robot) { return robot_id(robot) + "_low"; }

std::vector<AgentId> ChickenYard::agent_ids() {
  return {high_id(0), low_id(0), high_id(1), low_id(1)};
}

YardPoint ChickenYard::direction(int64_t action) {
  constexpr double d = std::numbers::sqrt2 / 2.0;  // a diagonal's component
  // N, NE, E, SE, S, SW, W, NW.
  constexpr std::array<YardPoint, kNumDirections> kUnit = {
      YardPoint{0, 1}, {d, d}, {1, 0}, {d, -d}, {0, -1}, {-d, -d}, {-1, 0}, {-d, d}};
  if (action < 0 || action >= kNumDirections) {
    throw std::invalid_argument("ChickenYard: a direction must be in 0..7, got " +
                                std::to_string(action));
  }
  return kUnit[static_cast<size_t>(action)];
}

int ChickenYard::direction_toward(const YardPoint& from, const YardPoint& to, double speed) {
  int best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (int a = 0; a < kNumDirections; ++a) {
    const double d = distance(moved(from, a, speed), to);
    if (d < best_distance) {
      best_distance = d;
      best = a;
    }
  }
  return best;
}

std::vector<AgentId> ChickenYard::due_agents() const {
  std::vector<AgentId> due;
  if (episode_over_) return due;
  for (int r = 0; r < kNumRobots; ++r) {
    if (env_steps_ == 0) {
      due.push_back(high_id(r));
    } else if (travelling(r)) {
      due.push_back(low_id(r));
    }
  }
  return due;
}

YardPoint ChickenYard::robot_position(int robot) const { return state(robot).position; }

const Ocean& ChickenYard::robot_personality(int robot) const {
  check_robot(robot);
  return layout_.robot_oceans[static_cast<size_t>(robot)];
}

YardPoint ChickenYard::chicken_position(int chicken) const {
  check_chicken(chicken);
  return layout_.chicken_positions[static_cast<size_t>(chicken)];
}

const Ocean& ChickenYard::chicken_personality(int chicken) const {
  check_chicken(chicken);
  return layout_.chicken_oceans[static_cast<size_t>(chicken)];
}

int ChickenYard::chosen_chicken(int robot) const { return state(robot).chosen; }

bool ChickenYard::caught(int robot) const { return state(robot).caught; }

bool ChickenYard::travelling(int robot) const {
  const RobotState& s = state(robot);
  return !episode_over_ && s.chosen >= 0 && !s.caught;
}

int ChickenYard::steps_travelled(int robot) const { return state(robot).steps; }

const std::vector<YardPoint>& ChickenYard::path(int robot) const { return state(robot).path; }

double ChickenYard::high_return(int robot) const { return state(robot).high_return; }

double ChickenYard::low_return(int robot) const { return state(robot).low_return; }

double ChickenYard::match(int robot, int chicken) const {
  return dot(robot_personality(robot), chicken_personality(chicken));
}

double ChickenYard::best_match(int robot) const {
  double best = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < config_.num_chickens; ++c) best = std::max(best, match(robot, c));
  return best;
}

double ChickenYard::random_match(int robot) const {
  double sum = 0.0;
  for (int c = 0; c < config_.num_chickens; ++c) sum += match(robot, c);
  return sum / config_.num_chickens;
}

int ChickenYard::straight_line_steps(int robot) const {
  const int chosen = chosen_chicken(robot);
  if (chosen < 0) {
    throw std::logic_error("ChickenYard: " + quoted(robot_id(robot)) + " has not chosen a chicken");
  }
  const double d =
      distance(layout_.robot_positions[static_cast<size_t>(robot)], chicken_position(chosen));
  return std::max(0, static_cast<int>(std::ceil((d - config_.catch_radius) / config_.speed)));
}

NamedObs ChickenYard::high_obs(int robot) const {
  std::vector<float> oceans;
  for (const Ocean& o : layout_.chicken_oceans) append(oceans, o);
  std::vector<float> own_ocean;
  append(own_ocean, robot_personality(robot));
  std::vector<float> own_position;
  append(own_position, robot_position(robot));
  return {{"chicken_oceans", std::move(oceans)},
          {"chicken_positions", chicken_positions_flat()},
          {"robot_ocean", std::move(own_ocean)},
          {"robot_position", std::move(own_position)}};
}

NamedObs ChickenYard::low_obs(int robot) const {
  std::vector<float> own_position;
  append(own_position, robot_position(robot));
  std::vector<float> target;
  append(target, chicken_position(chosen_chicken(robot)));
  return {{"chicken_positions", chicken_positions_flat()},
          {"robot_position", std::move(own_position)},
          {"target", std::move(target)}};
}

std::vector<float> ChickenYard::chicken_positions_flat() const {
  std::vector<float> out;
  out.reserve(layout_.chicken_positions.size() * 2);
  for (const YardPoint& p : layout_.chicken_positions) append(out, p);
  return out;
}

double ChickenYard::distance_to_target(int robot) const {
  return distance(robot_position(robot), chicken_position(chosen_chicken(robot)));
}

void ChickenYard::check_robot(int robot) {
  if (robot < 0 || robot >= kNumRobots) {
    throw std::out_of_range("ChickenYard: robot index must be 0 or 1, got " +
                            std::to_string(robot));
  }
}

const ChickenYard::RobotState& ChickenYard::state(int robot) const {
  check_robot(robot);
  return robots_[static_cast<size_t>(robot)];
}

void ChickenYard::check_chicken(int chicken) const {
  if (chicken < 0 || chicken >= config_.num_chickens) {
    throw std::out_of_range("ChickenYard: chicken index must be in 0.." +
                            std::to_string(config_.num_chickens - 1) + ", got " +
                            std::to_string(chicken));
  }
}

}  // namespace tandem::sims
