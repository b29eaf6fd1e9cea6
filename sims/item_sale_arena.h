#pragma once
// MultiAgentArenaWithItemSale from the RLlib notebook "in-game item sale" (reference
// 000_b1f235017605f7f7.txt): the MultiAgentArena (sims/multi_agent_arena.h) with a power-up
// offered to both players in the middle of the episode, at a price a price service names.
// Everything else (moves, walls, collisions, rewards, observations, episode end) is the
// arena's: this class only changes the arena's step plan (MultiAgentArena::plan_step).
//
// Rules, as the reference's step():
// - The step counter grows first; the step whose number is `sell_item_at()` =
//   episode_len / 2 (the reference's `timestep_limit // 2`; no sale when that is 0) is the
//   sale step. Before any move of that step, the game asks the price callback once per
//   player, agent1 first: price1 = price(agent1's return, agent2's return), price2 =
//   price(agent2's return, agent1's return), the returns being the sums of the rewards of
//   the steps before the sale step.
// - User model: agent1's user buys if price1 < 50 (`agent1_buys_below`); from then on
//   agent1 moves first in every step (no coin is tossed). agent2's user buys if price2 < 45
//   (`agent2_buys_below`); from then on agent2 moves twice per step (its action applied
//   twice, the collision rule checked before each move; a blocked first move does not stop
//   the second). Both take effect in the sale step itself.
// - Order per step: agent1 first -> agent1, then agent2 (once or twice); agent2 first ->
//   agent2 (once or twice), then agent1. Events of all moves are pooled as in the arena
//   (at most one collision per step).
// - The sale step's rewards: a buyer's reward loses price / 10 (agent1: r1 -= price1 / 10,
//   agent2: r2 -= price2 / 10), so the returns include what was paid.
//
// Deviations from the reference's literal code, with reasons:
// - The reference subtracts price / 10 from BOTH players' rewards at the sale step, whether
//   or not they bought. Tandem follows issue 16 ("the price paid is subtracted from the
//   buyer's reward"): a player who does not buy pays nothing.
// - The reference's variant step() has no coin: without the item, agent2 always moves
//   first. Tandem keeps the arena's coin for every step in which agent1 has not bought, so
//   the game before the sale (and without a sale) is exactly the arena's.
// - The reference calls a fixed HTTP service; here the price is a callback (the sim has no
//   network code). A callback that throws makes step() throw (the step is then half done:
//   reset() before using the env again); a non-finite price throws std::runtime_error.
//   Prices are used as given (no clipping: the caller knows its action space).
// - The arena's custom metrics (new_fields_discovered, num_collisions) are counted on the
//   rewards before the charge, so a purchase does not hide a new field or a collision.
#include <functional>

#include "sims/multi_agent_arena.h"

namespace tandem::sims {

// The price service: the price of the item for a player, given that player's return so far
// and the other player's. May throw (the service failed); see above.
using PriceFn = std::function<double(double own_return, double other_return)>;

struct ItemSaleConfig {
  ArenaConfig arena;                // the arena underneath (size, episode_len, coin seed)
  double agent1_buys_below = 50.0;  // agent1's user buys when its price is below this
  double agent2_buys_below = 45.0;  // agent2's user buys when its price is below this
};

// The sale of the current episode, for metrics.
struct ItemSale {
  bool offered = false;        // the sale step has been played
  double agent1_price = 0.0;   // price asked of agent1 (0 before the sale)
  double agent2_price = 0.0;   // price asked of agent2
  bool agent1_bought = false;  // agent1 moves first from the sale step on
  bool agent2_bought = false;  // agent2 moves twice per step from the sale step on
  double agent1_paid() const { return agent1_bought ? agent1_price : 0.0; }
  double agent2_paid() const { return agent2_bought ? agent2_price : 0.0; }
};

class MultiAgentArenaWithItemSale : public MultiAgentArena {
 public:
  // Throws std::invalid_argument if `price` is empty or the arena config is invalid.
  MultiAgentArenaWithItemSale(const ItemSaleConfig& config, PriceFn price);

  // The arena's reset, and no item sold.
  ObsDict reset() override;

  int sell_item_at() const { return sell_item_at_; }  // the sale step's 1-based number
  const ItemSale& sale() const { return sale_; }      // this episode's sale so far

 protected:
  StepPlan plan_step() override;

 private:
  ItemSaleConfig sale_config_;
  PriceFn price_;
  int sell_item_at_;
  ItemSale sale_;
};

}  // namespace tandem::sims
