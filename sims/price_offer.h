#pragma once
// PriceOffer: the one-step price environment behind the item-sale price model, Tandem's
// counterpart of the reference's RandomEnv data generator (000_b1f235017605f7f7.txt: obs =
// the two players' total rewards, Box(-100, 100, (2,)); action = the item's price,
// Box(0, 100, (1,)); reward in [0, 1]; one step per episode). RandomEnv draws the
// observation and the reward at random; here both mean something, so the data teaches a
// price model:
// - Observation [own_return, other_return]: the state the item-sale arena is in when it
//   asks for a price. A MultiAgentArena episode (sims/multi_agent_arena.h, the given
//   ArenaConfig) is played with uniformly random actions for episode_len / 2 - 1 steps; the
//   offer goes to agent1 or agent2 with probability 1/2 each, and the observation is that
//   player's return, then the other's (clipped to [-100, 100]; the arena's never exceed
//   +-episode_len / 2).
// - Reward: the expected revenue of the offer, price / 100 * P(buy), with the user model of
//   the item-sale arena (sims/item_sale_arena.h) softened into a probability:
//   P(buy) = 1 / (1 + exp((price - threshold) / softness)), threshold 50 for agent1's user
//   and 45 for agent2's. The price is the action clipped into [0, 100]. So the reward is in
//   [0, 1], and the best price (about 41 for agent1, 37 for agent2 at softness 4) depends on
//   who is asked, which the model must tell from the returns alone.
#include <array>
#include <cstdint>
#include <random>

#include "sims/multi_agent_arena.h"

namespace tandem::sims {

struct PriceOfferConfig {
  ArenaConfig arena;               // the arena whose returns are observed (its seed too)
  double agent1_threshold = 50.0;  // agent1's user: P(buy) = 1/2 at this price
  double agent2_threshold = 45.0;  // agent2's user
  double softness = 4.0;           // P(buy) is 73% at threshold - softness, 27% at + softness
  double max_price = 100.0;        // the price space is [0, max_price]
  double max_abs_return = 100.0;   // the observation space is [-this, this]^2
};

struct PriceOfferOutcome {
  double price = 0.0;        // the action clipped into [0, max_price]
  double buy_prob = 0.0;     // P(buy) at that price
  double reward = 0.0;       // price / max_price * buy_prob, in [0, 1]
  bool asked_agent1 = true;  // whose user was asked
};

class PriceOffer {
 public:
  // Throws std::invalid_argument on a bad arena config, softness <= 0 or max_price <= 0.
  explicit PriceOffer(const PriceOfferConfig& config = {});

  // Plays a fresh arena episode up to the sale and returns [own_return, other_return].
  std::array<float, 2> reset();
  // The offer at `price` (raw action; clipped). One step: the episode ends with it.
  PriceOfferOutcome step(double price) const;

  bool asks_agent1() const { return asks_agent1_; }
  const PriceOfferConfig& config() const { return config_; }

 private:
  PriceOfferConfig config_;
  MultiAgentArena arena_;
  std::mt19937_64 rng_;  // the random players and who is asked
  bool asks_agent1_ = true;
};

}  // namespace tandem::sims
