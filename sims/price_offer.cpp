// PriceOffer: the one-step price environment; see price_offer.h.
#include "sims/price_offer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "sims/random_util.h"

namespace tandem::sims {

PriceOffer::PriceOffer(const PriceOfferConfig& config)
    : config_(config), arena_(config.arena), rng_(config.arena.seed + 0x5a1e) {
  if (!(config.softness > 0) || !(config.max_price > 0) || !(config.max_abs_return > 0)) {
    throw std::invalid_argument("PriceOffer: softness, max_price and max_abs_return must be > 0");
  }
}

std::array<float, 2> PriceOffer::reset() {
  arena_.reset();
  // The item-sale arena asks at step episode_len / 2, with the returns of the steps before.
  const int steps_before_sale = std::max(0, config_.arena.episode_len / 2 - 1);
  for (int t = 0; t < steps_before_sale; ++t) {
    const auto a1 = static_cast<int64_t>(uniform01(rng_) * MultiAgentArena::kNumActions);
    const auto a2 = static_cast<int64_t>(uniform01(rng_) * MultiAgentArena::kNumActions);
    arena_.step({{MultiAgentArena::kAgent1, a1}, {MultiAgentArena::kAgent2, a2}});
  }
  asks_agent1_ = uniform01(rng_) < 0.5;
  const double own = asks_agent1_ ? arena_.agent1_return() : arena_.agent2_return();
  const double other = asks_agent1_ ? arena_.agent2_return() : arena_.agent1_return();
  const double m = config_.max_abs_return;
  return {static_cast<float>(std::clamp(own, -m, m)), static_cast<float>(std::clamp(other, -m, m))};
}

PriceOfferOutcome PriceOffer::step(double price) const {
  PriceOfferOutcome out;
  out.asked_agent1 = asks_agent1_;
  out.price = std::isfinite(price) ? std::clamp(price, 0.0, config_.max_price) : 0.0;
  const double threshold = asks_agent1_ ? config_.agent1_threshold : config_.agent2_threshold;
  out.buy_prob = 1.0 / (1.0 + std::exp((out.price - threshold) / config_.softness));
  out.reward = out.price / config_.max_price * out.buy_prob;
  return out;
}

}  // namespace tandem::sims
