// Tests of sims/item_sale_arena: the arena with the reference's mid-episode item sale
// (who moves first after agent1 buys, agent2's double speed, the price charged to buyers
// only and only at the sale step, no sale above the thresholds, one price request per
// player per episode at step episode_len / 2, and the arena's game otherwise unchanged).
#include "sims/item_sale_arena.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using tandem::sims::ArenaConfig;
using tandem::sims::FirstMover;
using tandem::sims::GridPos;
using tandem::sims::ItemSaleConfig;
using tandem::sims::MultiAgentArena;
using tandem::sims::MultiAgentArenaWithItemSale;
using tandem::sims::StepResult;

constexpr int64_t kUp = MultiAgentArena::kUp;
constexpr int64_t kRight = MultiAgentArena::kRight;
constexpr int64_t kDown = MultiAgentArena::kDown;
constexpr int64_t kLeft = MultiAgentArena::kLeft;

struct PriceCall {
  int timestep = 0;
  double own_return = 0.0;
  double other_return = 0.0;
};

// A price service that answers from a fixed list (agent1's price, then agent2's, per
// episode) and records every call with the env's step number.
struct ScriptedPrices {
  explicit ScriptedPrices(std::vector<double> p) : prices(std::move(p)) {}
  std::vector<double> prices;
  std::vector<PriceCall> calls;
  const MultiAgentArena* env = nullptr;
  tandem::sims::PriceFn fn() {
    return [this](double own, double other) {
      calls.push_back({env->timesteps(), own, other});
      return prices.at((calls.size() - 1) % prices.size());
    };
  }
};

ItemSaleConfig sale_config(int width, int height, int episode_len) {
  ItemSaleConfig c;
  c.arena = ArenaConfig{.width = width, .height = height, .episode_len = episode_len, .seed = 0};
  return c;
}

StepResult step(MultiAgentArena& env, FirstMover coin, int64_t a1, int64_t a2) {
  env.set_first_mover_for_test(coin);
  return env.step({{"agent1", a1}, {"agent2", a2}});
}

}  // namespace

TEST_CASE("Item sale: the price is asked once per player per episode, at step episode_len / 2") {
  ScriptedPrices prices({100.0, 100.0});
  MultiAgentArenaWithItemSale env(sale_config(5, 5, 10), prices.fn());
  prices.env = &env;
  CHECK(env.sell_item_at() == 5);
  for (int episode = 0; episode < 2; ++episode) {
    env.reset();
    CHECK_FALSE(env.sale().offered);
    double r1_before = 0.0, r2_before = 0.0;
    for (int t = 1; t <= 10; ++t) {
      if (t == 5) {
        r1_before = env.agent1_return();
        r2_before = env.agent2_return();
      }
      step(env, FirstMover::kAgent1, t % 2 ? kDown : kRight, t % 2 ? kUp : kLeft);
      CHECK(prices.calls.size() == static_cast<size_t>(episode * 2 + (t >= 5 ? 2 : 0)));
    }
    // agent1 first with (own, other) = (agent1's, agent2's) return of steps 1..4, then agent2.
    const PriceCall& c1 = prices.calls.at(static_cast<size_t>(episode * 2));
    const PriceCall& c2 = prices.calls.at(static_cast<size_t>(episode * 2 + 1));
    CHECK(c1.timestep == 5);
    CHECK(c2.timestep == 5);
    CHECK(c1.own_return == r1_before);
    CHECK(c1.other_return == r2_before);
    CHECK(c2.own_return == r2_before);
    CHECK(c2.other_return == r1_before);
    CHECK(r1_before != r2_before);  // the order of the arguments is really tested
    CHECK(env.sale().offered);
  }

  // Odd lengths round down as the reference's `//`; a one-step episode has no sale.
  ScriptedPrices none({1.0});
  CHECK(MultiAgentArenaWithItemSale(sale_config(5, 5, 7), none.fn()).sell_item_at() == 3);
  MultiAgentArenaWithItemSale one(sale_config(5, 5, 1), none.fn());
  none.env = &one;
  CHECK(one.sell_item_at() == 0);
  one.step({{"agent1", kDown}, {"agent2", kUp}});
  CHECK(none.calls.empty());
  CHECK_FALSE(one.sale().offered);
}

TEST_CASE("Item sale: no sale at or above the thresholds; the game is the arena's") {
  // 50 and 45 exactly: the users buy only below them.
  ScriptedPrices prices({50.0, 45.0});
  MultiAgentArenaWithItemSale env(sale_config(5, 5, 8), prices.fn());
  prices.env = &env;
  MultiAgentArena plain(ArenaConfig{.width = 5, .height = 5, .episode_len = 8, .seed = 0});
  env.reset();
  plain.reset();
  const int64_t a1[] = {kRight, kRight, kDown, kDown, kLeft, kRight, kRight, kRight};
  const int64_t a2[] = {kUp, kLeft, kUp, kLeft, kUp, kUp, kLeft, kLeft};
  for (int t = 0; t < 8; ++t) {
    const FirstMover coin = t % 3 ? FirstMover::kAgent2 : FirstMover::kAgent1;
    const auto r = step(env, coin, a1[t], a2[t]);
    const auto p = step(plain, coin, a1[t], a2[t]);
    CHECK(r.obs == p.obs);
    CHECK(r.rewards == p.rewards);
    CHECK(r.truncated == p.truncated);
    CHECK(r.all_done == p.all_done);
  }
  CHECK(env.sale().offered);
  CHECK(env.sale().agent1_price == 50.0);
  CHECK(env.sale().agent2_price == 45.0);
  CHECK_FALSE(env.sale().agent1_bought);
  CHECK_FALSE(env.sale().agent2_bought);
  CHECK(env.sale().agent1_paid() == 0.0);
  CHECK(env.sale().agent2_paid() == 0.0);
  CHECK(env.agent1_return() == plain.agent1_return());
  CHECK(env.agent2_return() == plain.agent2_return());
}

TEST_CASE("Item sale: without a purchase the seeded coin runs as in the arena") {
  ScriptedPrices prices({99.0});
  MultiAgentArenaWithItemSale env(sale_config(3, 1, 100), prices.fn());
  MultiAgentArena plain(ArenaConfig{.width = 3, .height = 1, .episode_len = 100, .seed = 0});
  prices.env = &env;
  env.reset();
  plain.reset();
  // On a 3x1 strip the order decides whether the mover collides: the positions show the coin.
  for (int t = 0; t < 100; ++t) {
    const auto r =
        env.step({{"agent1", t % 2 ? kLeft : kRight}, {"agent2", t % 2 ? kRight : kLeft}});
    const auto p =
        plain.step({{"agent1", t % 2 ? kLeft : kRight}, {"agent2", t % 2 ? kRight : kLeft}});
    REQUIRE(r.obs == p.obs);
    REQUIRE(r.rewards == p.rewards);
  }
  CHECK(env.num_collisions() == plain.num_collisions());
  CHECK(env.new_fields_discovered() == plain.new_fields_discovered());
}

TEST_CASE("Item sale: the price is subtracted from the buyer only, at the sale step only") {
  // Episode of 4 steps on 5x5: sale at step 2. Steps are far from collisions.
  SUBCASE("agent1 buys at 30, agent2 refuses 60") {
    ScriptedPrices prices({30.0, 60.0});
    MultiAgentArenaWithItemSale env(sale_config(5, 5, 4), prices.fn());
    prices.env = &env;
    env.reset();
    auto r = step(env, FirstMover::kAgent1, kDown, kUp);
    CHECK(r.rewards.at("agent1") == 1.0f);
    r = step(env, FirstMover::kAgent1, kDown, kUp);  // sale step
    CHECK(r.rewards.at("agent1") == doctest::Approx(1.0 - 3.0));
    CHECK(r.rewards.at("agent2") == -0.1f);
    CHECK(env.sale().agent1_bought);
    CHECK_FALSE(env.sale().agent2_bought);
    CHECK(env.sale().agent1_paid() == 30.0);
    CHECK(env.sale().agent2_paid() == 0.0);
    r = step(env, FirstMover::kAgent1, kDown, kUp);  // paid once: no charge after
    CHECK(r.rewards.at("agent1") == 1.0f);
    CHECK(r.rewards.at("agent2") == -0.1f);
    CHECK(env.agent1_return() == doctest::Approx(3.0 - 3.0));
    CHECK(env.agent2_return() == doctest::Approx(-0.3));
    CHECK(env.new_fields_discovered() == 3);  // counted on the reward before the charge
  }
  SUBCASE("agent2 buys at 20, agent1 refuses 70") {
    ScriptedPrices prices({70.0, 20.0});
    MultiAgentArenaWithItemSale env(sale_config(5, 5, 4), prices.fn());
    prices.env = &env;
    env.reset();
    step(env, FirstMover::kAgent1, kDown, kLeft);
    const auto r = step(env, FirstMover::kAgent1, kDown, kLeft);  // sale step
    CHECK(r.rewards.at("agent1") == 1.0f);
    CHECK(r.rewards.at("agent2") == doctest::Approx(-0.1 - 2.0));
    CHECK(env.sale().agent2_bought);
    CHECK(env.sale().agent2_paid() == 20.0);
    CHECK(env.agent2_return() == doctest::Approx(-0.2 - 2.0));
  }
  SUBCASE("reset forgets the purchase") {
    ScriptedPrices prices({1.0, 1.0});
    MultiAgentArenaWithItemSale env(sale_config(5, 5, 4), prices.fn());
    prices.env = &env;
    env.reset();
    step(env, FirstMover::kAgent1, kDown, kUp);
    step(env, FirstMover::kAgent1, kDown, kUp);
    CHECK(env.sale().agent1_bought);
    CHECK(env.sale().agent2_bought);
    env.reset();
    CHECK_FALSE(env.sale().offered);
    CHECK_FALSE(env.sale().agent1_bought);
    CHECK_FALSE(env.sale().agent2_bought);
    CHECK(env.sale().agent1_price == 0.0);
    // agent2 moves one cell again.
    step(env, FirstMover::kAgent1, kDown, kUp);
    CHECK(env.agent2_pos() == GridPos{3, 4});
  }
}

TEST_CASE("Item sale: after buying, agent1 moves first whatever the coin") {
  // 3x3, sale at step 2. agent1 buys (10), agent2 does not (90).
  ScriptedPrices prices({10.0, 90.0});
  MultiAgentArenaWithItemSale env(sale_config(3, 3, 4), prices.fn());
  prices.env = &env;
  MultiAgentArena plain(ArenaConfig{.width = 3, .height = 3, .episode_len = 4, .seed = 0});
  env.reset();
  plain.reset();
  // 1: agent1 (0,1), agent2 (1,2). Before the sale the coin (forced) still decides.
  step(env, FirstMover::kAgent1, kRight, kUp);
  step(plain, FirstMover::kAgent1, kRight, kUp);
  // 2 (sale): both head for (1,1), the coin says agent2. In the arena agent2 gets there
  // first; after the purchase agent1 does and agent2 is blocked.
  auto p = step(plain, FirstMover::kAgent2, kDown, kLeft);
  CHECK(plain.agent2_pos() == GridPos{1, 1});
  CHECK(plain.agent1_pos() == GridPos{0, 1});
  auto r = step(env, FirstMover::kAgent2, kDown, kLeft);
  CHECK(env.agent1_pos() == GridPos{1, 1});
  CHECK(env.agent2_pos() == GridPos{1, 2});
  CHECK(r.rewards.at("agent1") == doctest::Approx(-1.0 - 1.0));  // collision, and the price
  CHECK(r.rewards.at("agent2") == 1.0f);
  CHECK(p.rewards.at("agent1") == -1.0f);
  // 3: agent1 first again (coin ignored): agent1 leaves (1,1) up, agent2 follows in.
  r = step(env, FirstMover::kAgent2, kUp, kLeft);
  CHECK(env.agent1_pos() == GridPos{0, 1});
  CHECK(env.agent2_pos() == GridPos{1, 1});
  CHECK(r.rewards.at("agent1") == -0.5f);  // (0,1) revisited, no charge any more
  CHECK(r.rewards.at("agent2") == -0.1f);
}

TEST_CASE("Item sale: after buying, agent2 moves twice per step, collisions checked per move") {
  // 5x5, sale at step 3. agent2 buys (10), agent1 does not (90).
  ScriptedPrices prices({90.0, 10.0});
  MultiAgentArenaWithItemSale env(sale_config(5, 5, 6), prices.fn());
  prices.env = &env;
  env.reset();
  step(env, FirstMover::kAgent1, kRight, kUp);  // agent1 (0,1), agent2 (3,4)
  step(env, FirstMover::kAgent1, kRight, kUp);  // agent1 (0,2), agent2 (2,4)
  CHECK(env.agent2_pos() == GridPos{2, 4});
  // 3 (sale): agent1 first to (0,3); agent2 up twice: (1,4), (0,4).
  auto r = step(env, FirstMover::kAgent1, kRight, kUp);
  CHECK(env.agent1_pos() == GridPos{0, 3});
  CHECK(env.agent2_pos() == GridPos{0, 4});
  CHECK(r.rewards.at("agent1") == 1.0f);
  CHECK(r.rewards.at("agent2") == doctest::Approx(-0.1 - 1.0));
  // 4: agent2 first, down twice: (1,4), (2,4); agent1 then takes (0,4): a new field.
  r = step(env, FirstMover::kAgent2, kRight, kDown);
  CHECK(env.agent2_pos() == GridPos{2, 4});
  CHECK(env.agent1_pos() == GridPos{0, 4});
  CHECK(r.rewards.at("agent1") == 1.0f);
  CHECK(r.rewards.at("agent2") == -0.1f);
  // 5: agent2 first, up twice: (1,4) is free, (0,4) holds agent1: the second move is
  // blocked (agent2 stays on (1,4)); one collision for the step.
  r = step(env, FirstMover::kAgent2, kLeft, kUp);
  CHECK(env.agent2_pos() == GridPos{1, 4});
  CHECK(env.agent1_pos() == GridPos{0, 3});
  CHECK(r.rewards.at("agent1") == -1.0f);
  CHECK(r.rewards.at("agent2") == 1.0f);
  CHECK(env.num_collisions() == 1);
  // 6: a wall clamps each move: agent2 right twice stays on (1,4).
  r = step(env, FirstMover::kAgent1, kLeft, kRight);
  CHECK(env.agent2_pos() == GridPos{1, 4});
  CHECK(r.all_done);
}

TEST_CASE("Item sale: a missing callback or a non-finite price is refused") {
  CHECK_THROWS_AS(MultiAgentArenaWithItemSale(sale_config(5, 5, 4), nullptr),
                  std::invalid_argument);
  MultiAgentArenaWithItemSale env(sale_config(5, 5, 4), [](double, double) {
    return std::numeric_limits<double>::quiet_NaN();
  });
  env.reset();
  env.step({{"agent1", kDown}, {"agent2", kUp}});
  CHECK_THROWS_AS(env.step({{"agent1", kDown}, {"agent2", kUp}}), std::runtime_error);
  // A failing service's exception reaches the caller of step().
  MultiAgentArenaWithItemSale failing(sale_config(5, 5, 2), [](double, double) -> double {
    throw std::runtime_error("price service down");
  });
  failing.reset();
  CHECK_THROWS_WITH(failing.step({{"agent1", kDown}, {"agent2", kUp}}), "price service down");
}
