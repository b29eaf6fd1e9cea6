// Tests of sims/cartpole: gym CartPole-v1 dynamics, termination, truncation, rewards,
// seeded resets and the one-agent MultiAgentEnv adapter.
#include "sims/cartpole.h"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace {

using tandem::sims::CartPole;
using tandem::sims::CartPoleMultiAgent;
using tandem::sims::CartPoleState;

// An independent reference: gym's equations (cartpole.py, "euler" integrator) written out
// again in long double with the constants as literals.
struct RefState {
  long double x, x_dot, theta, theta_dot;
};

RefState reference_step(const RefState& s, int action) {
  const long double gravity = 9.8L, masscart = 1.0L, masspole = 0.1L, length = 0.5L;
  const long double total_mass = masspole + masscart;
  const long double polemass_length = masspole * length;
  const long double force = action == 1 ? 10.0L : -10.0L;
  const long double tau = 0.02L;
  const long double c = std::cos(s.theta);
  const long double sn = std::sin(s.theta);
  const long double temp = (force + polemass_length * s.theta_dot * s.theta_dot * sn) / total_mass;
  const long double thetaacc =
      (gravity * sn - c * temp) / (length * (4.0L / 3.0L - masspole * c * c / total_mass));
  const long double xacc = temp - polemass_length * thetaacc * c / total_mass;
  // Every update uses the old values.
  return {s.x + tau * s.x_dot, s.x_dot + tau * xacc, s.theta + tau * s.theta_dot,
          s.theta_dot + tau * thetaacc};
}

void check_close(double actual, long double expected) {
  CHECK(static_cast<long double>(actual) ==
        doctest::Approx(static_cast<double>(expected)).epsilon(1e-12));
}

}  // namespace

TEST_CASE("CartPole: constants are gym's") {
  CHECK(CartPole::kTotalMass == 1.1);
  CHECK(CartPole::kPoleMassLength == 0.05);
  // 12 * 2 * math.pi / 360 in Python.
  CHECK(CartPole::kThetaThresholdRadians == 0x1.acee9f37bebd5p-3);
  CHECK(CartPole::kXThreshold == 2.4);
  CHECK(CartPole::kMaxEpisodeSteps == 500);
}

TEST_CASE("CartPole: steps from a fixed state follow gym's equations") {
  CartPole env(1);
  const CartPoleState start{0.01, -0.02, 0.03, 0.04};
  env.set_state(start);
  // The reference starts from exactly the same doubles.
  RefState ref{start.x, start.x_dot, start.theta, start.theta_dot};
  const std::vector<int> actions{1, 0, 0, 1, 1, 1, 0, 1};
  for (const int a : actions) {
    const CartPole::Step s = env.step(a);
    ref = reference_step(ref, a);
    check_close(env.state().x, ref.x);
    check_close(env.state().x_dot, ref.x_dot);
    check_close(env.state().theta, ref.theta);
    check_close(env.state().theta_dot, ref.theta_dot);
    // Observations are the double state rounded to float (np.float32).
    CHECK(s.obs[0] == static_cast<float>(env.state().x));
    CHECK(s.obs[1] == static_cast<float>(env.state().x_dot));
    CHECK(s.obs[2] == static_cast<float>(env.state().theta));
    CHECK(s.obs[3] == static_cast<float>(env.state().theta_dot));
    CHECK(s.reward == 1.0f);
    CHECK_FALSE(s.terminated);
    CHECK_FALSE(s.truncated);
  }
}

TEST_CASE("CartPole: bit for bit equal to gym's Python floats") {
  // Produced by gym's step() formulas run in CPython (glibc libm) from state
  // (0.01, -0.02, 0.03, 0.04) with actions 1, 0, 0, 1, 1, 1.
  const double expected[6][4] = {
      {0x1.3a92a30553262p-7, 0x1.65be34c837f9ep-3, 0x1.f8a0902de00d1p-6, -0x1.f1ce03128d125p-3},
      {0x1.ad0cf159dff10p-7, -0x1.55ea4bef35a28p-6, 0x1.a8fa7b3525a3cp-6, 0x1.e4b44a16b46c4p-5},
      {0x1.9f5fbb1d1b3c7p-7, -0x1.bb173d824c297p-3, 0x1.bc5dda54c674ep-6, 0x1.708f04ace9642p-2},
      {0x1.1195bbe92bd30p-7, -0x1.62555ed1da7e8p-6, 0x1.192716dfa74a7p-5, 0x1.36ef2f85cf228p-4},
      {0x1.03695bf541cdfp-7, 0x1.6246e1e85ddbep-3, 0x1.25970e88d8894p-5, -0x1.a55f7a55698a2p-3},
      {0x1.74c7b8ba7e8f3p-7, 0x1.7866770393fc4p-2, 0x1.03e156aaf90d9p-5, -0x1.f299a2eaee347p-2},
  };
  CartPole env(1);
  env.set_state({0.01, -0.02, 0.03, 0.04});
  const int actions[6] = {1, 0, 0, 1, 1, 1};
  for (int i = 0; i < 6; ++i) {
    env.step(actions[i]);
    CAPTURE(i);
    CHECK(env.state().x == expected[i][0]);
    CHECK(env.state().x_dot == expected[i][1]);
    CHECK(env.state().theta == expected[i][2]);
    CHECK(env.state().theta_dot == expected[i][3]);
  }
}

TEST_CASE("CartPole: terminates beyond the angle limit, reward 1 then 0") {
  CartPole env(1);
  const double limit = CartPole::kThetaThresholdRadians;
  SUBCASE("exactly at the limit is not terminal") {
    // theta_dot = 0: theta stays exactly at the limit after the step.
    env.set_state({0.0, 0.0, limit, 0.0});
    const auto s = env.step(1);
    CHECK(env.state().theta == limit);
    CHECK_FALSE(s.terminated);
    CHECK(s.reward == 1.0f);
  }
  SUBCASE("past the limit to the right") {
    env.set_state({0.0, 0.0, limit - 0.001, 1.0});  // theta += 0.02
    const auto s = env.step(1);
    CHECK(env.state().theta > limit);
    CHECK(s.terminated);
    CHECK_FALSE(s.truncated);
    CHECK(s.reward == 1.0f);  // the terminating step still pays 1
    const auto after = env.step(0);
    CHECK(after.terminated);
    CHECK(after.reward == 0.0f);  // gym: steps beyond termination pay 0
  }
  SUBCASE("past the limit to the left") {
    env.set_state({0.0, 0.0, -limit + 0.001, -1.0});
    const auto s = env.step(0);
    CHECK(env.state().theta < -limit);
    CHECK(s.terminated);
    CHECK(s.reward == 1.0f);
  }
}

TEST_CASE("CartPole: terminates beyond the track ends") {
  CartPole env(1);
  SUBCASE("exactly at 2.4 is not terminal") {
    env.set_state({2.4, 0.0, 0.0, 0.0});
    CHECK_FALSE(env.step(0).terminated);
    CHECK(env.state().x == 2.4);
    env.set_state({-2.4, 0.0, 0.0, 0.0});
    CHECK_FALSE(env.step(1).terminated);
  }
  SUBCASE("right end") {
    env.set_state({2.39, 1.0, 0.0, 0.0});  // x += 0.02
    const auto s = env.step(1);
    CHECK(env.state().x > 2.4);
    CHECK(s.terminated);
    CHECK(s.reward == 1.0f);
  }
  SUBCASE("left end") {
    env.set_state({-2.39, -1.0, 0.0, 0.0});
    const auto s = env.step(0);
    CHECK(env.state().x < -2.4);
    CHECK(s.terminated);
  }
  SUBCASE("reset clears the terminated state") {
    env.set_state({2.39, 1.0, 0.0, 0.0});
    env.step(1);
    env.reset();
    const auto s = env.step(1);
    CHECK_FALSE(s.terminated);
    CHECK(s.reward == 1.0f);
  }
}

TEST_CASE("CartPole: a balancing controller is truncated at step 500, reward 1 per step") {
  CartPole env(42);
  env.reset();
  float total = 0.0f;
  int steps = 0;
  CartPole::Step s{};
  do {
    const CartPoleState& st = env.state();
    // A linear state-feedback controller that keeps the pole up and the cart near 0.
    const double u = st.x + 2.0 * st.x_dot + 30.0 * st.theta + 6.0 * st.theta_dot;
    s = env.step(u > 0.0 ? 1 : 0);
    ++steps;
    total += s.reward;
    CHECK(s.reward == 1.0f);
    CHECK(s.truncated == (steps == 500));
  } while (!s.terminated && !s.truncated && steps < 1000);
  CHECK(steps == 500);
  CHECK_FALSE(s.terminated);
  CHECK(s.truncated);
  CHECK(total == 500.0f);
  CHECK(env.elapsed_steps() == 500);
}

TEST_CASE("CartPole: truncation counts from set_state's elapsed steps") {
  CartPole env(1);
  env.set_state({0.0, 0.0, 0.0, 0.0}, 498);
  CHECK_FALSE(env.step(1).truncated);
  const auto s = env.step(0);
  CHECK(s.truncated);
  CHECK_FALSE(s.terminated);
  CHECK(s.reward == 1.0f);
}

TEST_CASE("CartPole: seeded resets are reproducible and within +-0.05") {
  CartPole a(7);
  CartPole b(7);
  CartPole c(8);
  for (int episode = 0; episode < 50; ++episode) {
    const auto oa = a.reset();
    const auto ob = b.reset();
    const auto oc = c.reset();
    CHECK(oa == ob);
    CHECK(oa != oc);
    CHECK(a.state().x == b.state().x);
    CHECK(a.state().theta_dot == b.state().theta_dot);
    CHECK(a.elapsed_steps() == 0);
    for (const float v : oa) {
      CHECK(v >= -0.05f);
      CHECK(v <= 0.05f);
    }
    const CartPoleState& st = a.state();
    for (const double v : {st.x, st.x_dot, st.theta, st.theta_dot}) {
      CHECK(v >= -0.05);
      CHECK(v < 0.05);
    }
  }
  // Successive episodes start differently.
  CartPole d(7);
  CHECK(d.reset() != d.reset());
}

TEST_CASE("CartPole: rejects bad actions and stepping before reset") {
  CartPole env(1);
  CHECK_THROWS_AS(env.step(0), std::logic_error);
  env.reset();
  CHECK_THROWS_AS(env.step(2), std::invalid_argument);
  CHECK_THROWS_AS(env.step(-1), std::invalid_argument);
}

TEST_CASE("CartPoleMultiAgent: one agent \"agent0\" with CartPole's results") {
  CartPoleMultiAgent ma(3);
  CartPole single(3);
  CHECK(ma.agent_ids() == std::vector<std::string>{"agent0"});
  const auto obs = ma.reset();
  const auto single_obs = single.reset();
  REQUIRE(obs.size() == 1);
  REQUIRE(obs.count("agent0") == 1);
  CHECK(obs.at("agent0") == std::vector<float>(single_obs.begin(), single_obs.end()));

  const auto r = ma.step({{"agent0", 1}});
  const auto s = single.step(1);
  CHECK(r.obs.at("agent0") == std::vector<float>(s.obs.begin(), s.obs.end()));
  CHECK(r.rewards.at("agent0") == 1.0f);
  CHECK_FALSE(r.terminated.at("agent0"));
  CHECK_FALSE(r.truncated.at("agent0"));
  CHECK_FALSE(r.all_done);

  ma.env().set_state({0.0, 0.0, 0.0, 0.0}, 499);
  const auto last = ma.step({{"agent0", 0}});
  CHECK(last.truncated.at("agent0"));
  CHECK(last.all_done);

  ma.env().set_state({2.39, 1.0, 0.0, 0.0});
  const auto fell = ma.step({{"agent0", 1}});
  CHECK(fell.terminated.at("agent0"));
  CHECK(fell.all_done);

  CHECK_THROWS_AS(ma.step({}), std::invalid_argument);
  CHECK_THROWS_AS(ma.step({{"agent0", 5}}), std::invalid_argument);
}
