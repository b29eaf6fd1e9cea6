// Tests of sims/chicken_yard: the hierarchical yard's rules (seeded yards, unit-norm
// personalities, who acts when, refused actions changing nothing, the 8 moves and the walls,
// catching and the rewards it brings, the high agent's accumulated return, the step limit,
// straight-line steps) and its SVG picture.
#include "sims/chicken_yard.h"

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include "sims/chicken_yard_svg.h"

namespace {

using tandem::sims::ActionDict;
using tandem::sims::ChickenYard;
using tandem::sims::ChickenYardConfig;
using tandem::sims::ChickenYardStep;
using tandem::sims::NamedObsDict;
using tandem::sims::Ocean;
using tandem::sims::YardLayout;
using tandem::sims::YardPoint;

constexpr char kHigh1[] = "robot_1_high";
constexpr char kHigh2[] = "robot_2_high";
constexpr char kLow1[] = "robot_1_low";
constexpr char kLow2[] = "robot_2_low";

Ocean unit(int axis, double sign = 1.0) {
  Ocean o{};
  o[static_cast<size_t>(axis)] = sign;
  return o;
}

// Three chickens on a line at y = 0.5 (x = 0.3, 0.5, 0.71); robot_1 at (0.11, 0.5), robot_2
// at (0.89, 0.5): no distance lands exactly on a catch boundary. robot_1's ocean is axis 0,
// robot_2's axis 1; chicken 0 = +axis 0, 1 = +axis 1, 2 = (-0.6, -0.8, 0, 0, 0). So
// match(robot_1, .) = 1, 0, -0.6 and match(robot_2, .) = 0, 1, -0.8.
YardLayout line_layout() {
  YardLayout l;
  l.robot_positions = {YardPoint{0.11, 0.5}, YardPoint{0.89, 0.5}};
  l.robot_oceans = {unit(0), unit(1)};
  l.chicken_positions = {{0.3, 0.5}, {0.5, 0.5}, {0.71, 0.5}};
  l.chicken_oceans = {unit(0), unit(1), Ocean{-0.6, -0.8, 0.0, 0.0, 0.0}};
  return l;
}

ChickenYardConfig three_chickens() {
  ChickenYardConfig c;
  c.num_chickens = 3;
  return c;
}

double norm(const Ocean& o) {
  double s = 0.0;
  for (double v : o) s += v * v;
  return std::sqrt(s);
}

std::vector<std::string> keys(const NamedObsDict& obs) {
  std::vector<std::string> out;
  for (const auto& kv : obs) out.push_back(kv.first);
  return out;
}

// Every travelling robot's greedy move toward its chosen chicken.
ActionDict greedy(const ChickenYard& yard) {
  ActionDict a;
  for (int r = 0; r < ChickenYard::kNumRobots; ++r) {
    if (!yard.travelling(r)) continue;
    a[ChickenYard::low_id(r)] = ChickenYard::direction_toward(
        yard.robot_position(r), yard.chicken_position(yard.chosen_chicken(r)), yard.config().speed);
  }
  return a;
}

}  // namespace

TEST_CASE("chicken yard: seeded yards are deterministic; personalities have unit norm") {
  ChickenYardConfig cfg;
  cfg.seed = 42;
  ChickenYard a(cfg);
  ChickenYard b(cfg);
  for (int episode = 0; episode < 3; ++episode) {
    CHECK(a.reset() == b.reset());
    CHECK(a.layout().chicken_positions == b.layout().chicken_positions);
    CHECK(a.layout().chicken_oceans == b.layout().chicken_oceans);
  }
  cfg.seed = 43;
  ChickenYard c(cfg);
  CHECK(c.layout().chicken_oceans != a.layout().chicken_oceans);

  REQUIRE(a.num_chickens() == 10);
  for (int r = 0; r < 2; ++r) {
    CHECK(norm(a.robot_personality(r)) == doctest::Approx(1.0).epsilon(1e-12));
    const YardPoint p = a.robot_position(r);
    CHECK((p.x >= 0 && p.x <= 1 && p.y >= 0 && p.y <= 1));
  }
  for (int ch = 0; ch < 10; ++ch) {
    CHECK(norm(a.chicken_personality(ch)) == doctest::Approx(1.0).epsilon(1e-12));
    for (double v : a.chicken_personality(ch)) CHECK((v >= -1.0 && v <= 1.0));
  }

  // The observation components and their sizes.
  const NamedObsDict obs = a.reset();
  CHECK(keys(obs) == std::vector<std::string>{kHigh1, kHigh2});
  const auto& high = obs.at(kHigh1);
  CHECK(high.at("chicken_oceans").size() == 50);
  CHECK(high.at("chicken_positions").size() == 20);
  CHECK(high.at("robot_ocean").size() == 5);
  CHECK(high.at("robot_position").size() == 2);
  CHECK(high.at("chicken_oceans")[5] == static_cast<float>(a.chicken_personality(1)[0]));
  CHECK(high.at("chicken_positions")[3] == static_cast<float>(a.chicken_position(1).y));
}

TEST_CASE("chicken yard: only the highs act at step 0, then only travelling lows") {
  ChickenYard yard(three_chickens());
  yard.reset(line_layout());
  CHECK(yard.due_agents() == std::vector<std::string>{kHigh1, kHigh2});
  CHECK(yard.chosen_chicken(0) == -1);

  const ChickenYardStep s0 = yard.step({{kHigh1, 0}, {kHigh2, 0}});  // both pick chicken 0
  CHECK(keys(s0.obs) == std::vector<std::string>{kLow1, kLow2});
  CHECK(s0.rewards.empty());
  CHECK(s0.terminated.size() == 4);
  CHECK(!s0.all_done);
  const auto& low = s0.obs.at(kLow1);
  CHECK(low.size() == 3);
  CHECK(low.at("target") == std::vector<float>{0.3f, 0.5f});
  CHECK(low.at("robot_position") == std::vector<float>{0.11f, 0.5f});
  CHECK(low.at("chicken_positions").size() == 6);
  CHECK(yard.chosen_chicken(0) == 0);
  CHECK(yard.chosen_chicken(1) == 0);
  CHECK(yard.due_agents() == std::vector<std::string>{kLow1, kLow2});

  const ChickenYardStep s1 = yard.step({{kLow1, 2}, {kLow2, 6}});
  CHECK(keys(s1.obs) == std::vector<std::string>{kLow1, kLow2});
  // Both high agents get the step's penalty although they did not act.
  CHECK(s1.rewards.size() == 4);
  CHECK(s1.rewards.at(kHigh1) == doctest::Approx(-0.01));
  CHECK(s1.rewards.at(kLow2) == doctest::Approx(-0.01));
}

TEST_CASE("chicken yard: refused actions name the agent and change nothing") {
  ChickenYard yard(three_chickens());
  yard.reset(line_layout());
  auto refused = [&](const ActionDict& actions, const std::string& agent) {
    try {
      yard.step(actions);
      FAIL("no exception for " << agent);
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(agent) != std::string::npos);
    }
  };
  refused({{kHigh1, 0}}, kHigh2);                          // missing
  refused({{kHigh1, 0}, {kHigh2, 3}}, kHigh2);             // out of range (3 chickens)
  refused({{kHigh1, -1}, {kHigh2, 0}}, kHigh1);            // out of range
  refused({{kHigh1, 0}, {kHigh2, 0}, {kLow1, 2}}, kLow1);  // not due
  refused({{kHigh1, 0}, {kHigh2, 0}, {"robot_3_high", 0}}, "robot_3_high");
  CHECK(yard.env_steps() == 0);
  CHECK(yard.chosen_chicken(0) == -1);
  CHECK(yard.chosen_chicken(1) == -1);

  yard.step({{kHigh1, 0}, {kHigh2, 1}});
  refused({{kLow1, 8}, {kLow2, 0}}, kLow1);
  refused({{kLow1, 0}, {kLow2, 0}, {kHigh1, 0}}, kHigh1);
  refused({{kLow2, 0}}, kLow1);
  CHECK(yard.env_steps() == 1);
  CHECK(yard.path(0).size() == 1);
  CHECK(yard.robot_position(0) == YardPoint{0.11, 0.5});
  CHECK(yard.robot_position(1) == YardPoint{0.89, 0.5});
  CHECK(yard.steps_travelled(0) == 0);
  CHECK(yard.high_return(0) == 0.0);
}

TEST_CASE("chicken yard: every direction moves by exactly speed; walls clip") {
  const double d = 0.05 / std::numbers::sqrt2;
  const std::vector<YardPoint> expected = {{0, 0.05},  {d, d},   {0.05, 0},  {d, -d},
                                           {0, -0.05}, {-d, -d}, {-0.05, 0}, {-d, d}};
  for (int a = 0; a < 8; ++a) {
    CAPTURE(a);
    YardLayout l = line_layout();
    l.robot_positions[0] = {0.5, 0.2};  // far from the chickens: no catch
    ChickenYard yard(three_chickens());
    yard.reset(l);
    yard.step({{kHigh1, 0}, {kHigh2, 1}});
    yard.step({{kLow1, a}, {kLow2, 0}});
    const YardPoint p = yard.robot_position(0);
    CHECK(p.x - 0.5 == doctest::Approx(expected[static_cast<size_t>(a)].x).epsilon(1e-12));
    CHECK(p.y - 0.2 == doctest::Approx(expected[static_cast<size_t>(a)].y).epsilon(1e-12));
    CHECK(std::hypot(p.x - 0.5, p.y - 0.2) == doctest::Approx(0.05).epsilon(1e-12));
    CHECK(yard.path(0).size() == 2);
    CHECK(yard.steps_travelled(0) == 1);
  }

  // In the corner (0, 0): S, SW and W stay put; SE only moves along x.
  YardLayout l = line_layout();
  l.robot_positions[0] = {0.0, 0.0};
  ChickenYard yard(three_chickens());
  yard.reset(l);
  yard.step({{kHigh1, 1}, {kHigh2, 1}});
  for (int a : {4, 5, 6}) {
    yard.step({{kLow1, a}, {kLow2, 0}});
    CHECK(yard.robot_position(0) == YardPoint{0.0, 0.0});
  }
  yard.step({{kLow1, 3}, {kLow2, 0}});
  CHECK(yard.robot_position(0).x == doctest::Approx(d));
  CHECK(yard.robot_position(0).y == 0.0);
}

TEST_CASE("chicken yard: catching ends that robot only; rewards of the catching step") {
  ChickenYard yard(three_chickens());
  yard.reset(line_layout());
  // robot_1 -> chicken 0 at distance 0.19: 3 moves east (0.14 from it, 0.09, then 0.04).
  // robot_2 -> chicken 2 at distance 0.18, but it walks away east first (to the wall).
  yard.step({{kHigh1, 0}, {kHigh2, 2}});
  CHECK(yard.straight_line_steps(0) == 3);
  yard.step({{kLow1, 2}, {kLow2, 2}});
  yard.step({{kLow1, 2}, {kLow2, 2}});
  const ChickenYardStep s = yard.step({{kLow1, 2}, {kLow2, 2}});
  CHECK(yard.caught(0));
  CHECK(!yard.caught(1));
  CHECK(yard.steps_travelled(0) == 3);
  CHECK(s.terminated.at(kHigh1));
  CHECK(s.terminated.at(kLow1));
  CHECK(!s.truncated.at(kHigh1));
  CHECK(!s.terminated.at(kHigh2));
  CHECK(!s.terminated.at(kLow2));
  CHECK(s.rewards.at(kHigh1) == doctest::Approx(-0.01 + 1.0));  // match(robot_1, 0) = 1
  CHECK(s.rewards.at(kLow1) == doctest::Approx(-0.01 + 1.0));   // + arrival_bonus
  CHECK(s.rewards.at(kHigh2) == doctest::Approx(-0.01));
  // The caught robot's agents get their last observation; robot_2 goes on.
  CHECK(keys(s.obs) == std::vector<std::string>{kHigh1, kLow1, kLow2});
  CHECK(!s.all_done);
  CHECK(yard.due_agents() == std::vector<std::string>{kLow2});
  CHECK_THROWS_AS(yard.step({{kLow1, 0}, {kLow2, 0}}), std::invalid_argument);

  // robot_2 walks back west from x = 1 until it catches chicken 2 (match -0.8): 5 moves.
  ChickenYardStep last;
  while (!yard.episode_over()) last = yard.step(greedy(yard));
  CHECK(last.all_done);
  CHECK(yard.caught(1));
  CHECK(keys(last.obs) == std::vector<std::string>{kHigh2, kLow2});
  CHECK(last.rewards.count(kHigh1) == 0);
  CHECK(yard.steps_travelled(1) == 8);
  CHECK(last.rewards.at(kHigh2) == doctest::Approx(-0.01 - 0.8));
  CHECK(last.rewards.at(kLow2) == doctest::Approx(-0.01 + 1.0));
  CHECK(yard.high_return(1) == doctest::Approx(-0.08 - 0.8));
  CHECK(yard.low_return(1) == doctest::Approx(-0.08 + 1.0));
  CHECK_THROWS_AS(yard.step({{kLow2, 0}}), std::invalid_argument);
  CHECK_THROWS_AS(yard.step({}), std::invalid_argument);
  CHECK(yard.env_steps() == 9);
}

TEST_CASE("chicken yard: the high agent's return is -penalty * steps + match") {
  ChickenYardConfig cfg;
  cfg.seed = 7;
  ChickenYard yard(cfg);
  for (int episode = 0; episode < 20; ++episode) {
    yard.reset();
    yard.step({{kHigh1, episode % 10}, {kHigh2, (episode * 3) % 10}});
    std::vector<double> high(2, 0.0), low(2, 0.0);
    while (!yard.episode_over()) {
      const ChickenYardStep s = yard.step(greedy(yard));
      for (int r = 0; r < 2; ++r) {
        if (s.rewards.count(ChickenYard::high_id(r)))
          high[r] += s.rewards.at(ChickenYard::high_id(r));
        if (s.rewards.count(ChickenYard::low_id(r))) low[r] += s.rewards.at(ChickenYard::low_id(r));
      }
    }
    for (int r = 0; r < 2; ++r) {
      CAPTURE(episode);
      CAPTURE(r);
      REQUIRE(yard.caught(r));  // greedy always arrives within 100 steps in the unit square
      const double m = yard.match(r, yard.chosen_chicken(r));
      CHECK(high[r] == doctest::Approx(-0.01 * yard.steps_travelled(r) + m).epsilon(1e-5));
      CHECK(low[r] == doctest::Approx(-0.01 * yard.steps_travelled(r) + 1.0).epsilon(1e-5));
      CHECK(yard.high_return(r) == doctest::Approx(high[r]).epsilon(1e-9));
      CHECK(yard.path(r).size() == static_cast<size_t>(yard.steps_travelled(r)) + 1);
      // Greedy with 8 directions: at least the straight line, at most a little more.
      CHECK(yard.steps_travelled(r) >= std::max(1, yard.straight_line_steps(r)));
      CHECK(yard.steps_travelled(r) <= yard.straight_line_steps(r) * 1.1 + 2);
    }
    CHECK(yard.best_match(0) >= yard.match(0, yard.chosen_chicken(0)));
  }
}

TEST_CASE("chicken yard: the step limit truncates the robots still travelling") {
  ChickenYardConfig cfg = three_chickens();
  cfg.max_steps = 5;  // step 0 + 4 moves
  ChickenYard yard(cfg);
  yard.reset(line_layout());
  yard.step({{kHigh1, 0}, {kHigh2, 0}});  // robot_2 is 0.59 from chicken 0: 11 steps away
  CHECK(yard.straight_line_steps(1) == 11);
  ChickenYardStep s;
  int steps = 1;
  while (!yard.episode_over()) {
    s = yard.step(greedy(yard));
    ++steps;
  }
  CHECK(steps == 5);
  CHECK(yard.env_steps() == 5);
  CHECK(yard.caught(0));  // 3 moves
  CHECK(!yard.caught(1));
  CHECK(yard.steps_travelled(1) == 4);
  CHECK(s.all_done);
  CHECK(s.truncated.at(kHigh2));
  CHECK(s.truncated.at(kLow2));
  CHECK(!s.terminated.at(kLow2));
  CHECK(s.truncated.count(kLow1) == 0);  // robot_1 ended earlier
  CHECK(keys(s.obs) == std::vector<std::string>{kHigh2, kLow2});
  CHECK(yard.high_return(1) == doctest::Approx(-0.04));  // no match when truncated
  CHECK(yard.due_agents().empty());
  CHECK(!yard.travelling(1));
}

TEST_CASE("chicken yard: straight-line steps and matches") {
  ChickenYard yard(three_chickens());
  yard.reset(line_layout());
  CHECK_THROWS_AS(yard.straight_line_steps(0), std::logic_error);
  yard.step({{kHigh1, 1}, {kHigh2, 1}});
  // robot_1: distance 0.39 to chicken 1 -> ceil((0.39 - 0.05) / 0.05) = 7.
  CHECK(yard.straight_line_steps(0) == 7);
  CHECK(yard.match(0, 0) == 1.0);
  CHECK(yard.match(0, 2) == -0.6);
  CHECK(yard.match(1, 2) == -0.8);
  CHECK(yard.best_match(0) == 1.0);
  CHECK(yard.random_match(0) == doctest::Approx(0.4 / 3));
  CHECK(yard.best_match(1) == 1.0);
  CHECK(yard.random_match(1) == doctest::Approx(0.2 / 3));

  YardLayout near = line_layout();
  near.robot_positions[0] = {0.32, 0.5};  // within catch_radius already
  yard.reset(near);
  yard.step({{kHigh1, 0}, {kHigh2, 1}});
  CHECK(yard.straight_line_steps(0) == 0);

  YardLayout bad = line_layout();
  bad.chicken_oceans[1] = {0.5, 0.5, 0, 0, 0};
  CHECK_THROWS_AS(yard.reset(bad), std::invalid_argument);
  bad = line_layout();
  bad.robot_positions[1] = {1.2, 0.5};
  CHECK_THROWS_AS(yard.reset(bad), std::invalid_argument);
  ChickenYardConfig bad_cfg;
  bad_cfg.max_steps = 1;
  CHECK_THROWS_AS(ChickenYard{bad_cfg}, std::invalid_argument);
}

TEST_CASE("chicken yard: the SVG picture") {
  ChickenYardConfig cfg;
  cfg.seed = 3;
  ChickenYard yard(cfg);
  auto count = [](const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  };
  const std::string before = tandem::sims::chicken_yard_svg(yard);  // no choice yet: still valid
  CHECK(before.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);

  yard.step({{kHigh1, 2}, {kHigh2, 5}});
  while (!yard.episode_over()) yard.step(greedy(yard));
  const std::string svg = tandem::sims::chicken_yard_svg(yard);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "<polyline class=\"path\"") == 2);
  CHECK(count(svg, "<circle class=\"chicken\"") == 10);
  CHECK(count(svg, "<circle class=\"target\"") == 2);
  CHECK(svg.find("robot_1 chose chicken 2") != std::string::npos);
  CHECK(svg.find("caught in") != std::string::npos);
  CHECK(svg.find("http", svg.find("xmlns") + 40) == std::string::npos);  // no external links
  // Every element opened is closed: as many '<' as '>', no stray '&'.
  CHECK(count(svg, "<") == count(svg, ">"));
  CHECK(svg.find('&') == std::string::npos);
}
