// MultiAgentArenaWithItemSale: the arena with a mid-episode item sale; see item_sale_arena.h.
#include "sims/item_sale_arena.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace tandem::sims {
namespace {

double checked_price(double price, const char* agent) {
  if (!std::isfinite(price)) {
    throw std::runtime_error(
        std::string("MultiAgentArenaWithItemSale: the price service returned a "
                    "non-finite price for ") +
        agent);
  }
  return price;
}

}  // namespace

MultiAgentArenaWithItemSale::MultiAgentArenaWithItemSale(const ItemSaleConfig& config,
                                                         PriceFn price)
    : MultiAgentArena(config.arena),
      sale_config_(config),
      price_(std::move(price)),
      sell_item_at_(config.arena.episode_len / 2) {
  if (!price_) throw std::invalid_argument("MultiAgentArenaWithItemSale: no price callback");
}

ObsDict MultiAgentArenaWithItemSale::reset() {
  sale_ = ItemSale{};
  return MultiAgentArena::reset();
}

MultiAgentArena::StepPlan MultiAgentArenaWithItemSale::plan_step() {
  StepPlan plan;
  if (timesteps() == sell_item_at_) {
    // Returns before this step's rewards, as the reference's agent1_R / agent2_R.
    const double r1 = agent1_return();
    const double r2 = agent2_return();
    sale_.agent1_price = checked_price(price_(r1, r2), kAgent1);
    sale_.agent2_price = checked_price(price_(r2, r1), kAgent2);
    sale_.agent1_bought = sale_.agent1_price < sale_config_.agent1_buys_below;
    sale_.agent2_bought = sale_.agent2_price < sale_config_.agent2_buys_below;
    sale_.offered = true;
    plan.agent1_charge = static_cast<float>(sale_.agent1_paid() / 10.0);
    plan.agent2_charge = static_cast<float>(sale_.agent2_paid() / 10.0);
  }
  plan.first = sale_.agent1_bought ? FirstMover::kAgent1 : toss_coin();
  plan.agent1_moves = 1;
  plan.agent2_moves = sale_.agent2_bought ? 2 : 1;
  return plan;
}

}  // namespace tandem::sims
