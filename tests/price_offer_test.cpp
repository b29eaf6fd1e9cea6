// Tests of sims/price_offer: the one-step price environment (observations from the arena
// at the sale step, the price clipped into [0, 100], expected revenue in [0, 1] with the
// item-sale user model's thresholds, seeded).
#include "sims/price_offer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

using tandem::sims::PriceOffer;
using tandem::sims::PriceOfferConfig;

TEST_CASE("PriceOffer: observations are the arena's returns before the sale step") {
  PriceOffer env;
  int agent1_asked = 0;
  for (int i = 0; i < 400; ++i) {
    const auto obs = env.reset();
    // 49 steps: agent1 earns in [-49, 49], agent2 in [-4.9, 49].
    CHECK(std::abs(obs[0]) <= 49.0f);
    CHECK(std::abs(obs[1]) <= 49.0f);
    const float agent2_return = env.asks_agent1() ? obs[1] : obs[0];
    CHECK(agent2_return >= -4.9f - 1e-4f);
    agent1_asked += env.asks_agent1() ? 1 : 0;
  }
  CHECK(agent1_asked > 150);
  CHECK(agent1_asked < 250);
  // Seeded: the same config gives the same observations.
  PriceOffer a, b;
  for (int i = 0; i < 5; ++i) CHECK(a.reset() == b.reset());
}

TEST_CASE("PriceOffer: the reward is the expected revenue, in [0, 1], with per-user thresholds") {
  PriceOffer env;
  bool seen[2] = {false, false};
  for (int i = 0; i < 50 && !(seen[0] && seen[1]); ++i) {
    env.reset();
    seen[env.asks_agent1() ? 0 : 1] = true;
    const double threshold = env.asks_agent1() ? 50.0 : 45.0;
    const auto at = env.step(threshold);
    CHECK(at.buy_prob == doctest::Approx(0.5));
    CHECK(at.reward == doctest::Approx(threshold / 100.0 * 0.5));
    CHECK(env.step(0.0).reward == 0.0);
    CHECK(env.step(-5.0).price == 0.0);  // clipped
    CHECK(env.step(250.0).price == 100.0);
    CHECK(env.step(std::numeric_limits<double>::quiet_NaN()).price == 0.0);
    for (double p = 0; p <= 100; p += 2.5) {
      const auto o = env.step(p);
      CHECK(o.reward >= 0.0);
      CHECK(o.reward <= 1.0);
    }
    // A cheaper offer sells more often; well below the threshold it nearly always sells.
    CHECK(env.step(30.0).buy_prob > env.step(40.0).buy_prob);
    CHECK(env.step(threshold - 20.0).buy_prob > 0.99);
  }
  CHECK(seen[0]);
  CHECK(seen[1]);
  PriceOfferConfig bad;
  bad.softness = 0.0;
  CHECK_THROWS_AS(PriceOffer{bad}, std::invalid_argument);
}
