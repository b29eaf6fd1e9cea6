#include "policy_server/request_order.h"

#include "core/overload.h"

namespace tandem::server {

OrderKeys order_keys(const core::EpisodeRequest& r) {
  OrderKeys k;
  if (const auto& ep = core::episode_of(r); !ep.empty()) k.episodes.push_back(ep);
  return k;
}

OrderKeys order_keys(const core::Request& r) {
  return std::visit(core::Overload{
                        [](const core::GetConfig&) { return OrderKeys{}; },
                        [](const core::GetWeights&) { return OrderKeys{}; },
                        [](const core::ReportSamples&) { return OrderKeys{true, {}}; },
                        [](const core::VectorRequest& v) {
                          OrderKeys k;
                          for (const auto& e : v.entries)
                            if (const auto& ep = core::episode_of(e); !ep.empty()) k.episodes.push_back(ep);
                          return k;
                        },
                        [](const auto& m) {
                          OrderKeys k;
                          if (!m.episode_id.empty()) k.episodes.push_back(m.episode_id);
                          return k;
                        },
                    },
                    r);
}

bool RequestOrder::may_start(const OrderKeys& k) const {
  if (in_flight_ == 0) return true;
  if (k.barrier || barriers_ > 0) return false;
  for (const auto& ep : k.episodes)
    if (busy_.count(ep)) return false;
  return true;
}

void RequestOrder::start(const OrderKeys& k) {
  ++in_flight_;
  if (k.barrier) ++barriers_;
  for (const auto& ep : k.episodes) ++busy_[ep];
}

void RequestOrder::finish(const OrderKeys& k) {
  --in_flight_;
  if (k.barrier) --barriers_;
  for (const auto& ep : k.episodes)
    if (auto it = busy_.find(ep); it != busy_.end() && --it->second == 0) busy_.erase(it);
}

}  // namespace tandem::server
