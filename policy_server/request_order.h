#pragma once
// Which requests of an ordered sequence may start while earlier ones are still in flight.
//
// A sequence is the requests of one connection, or the entries of one VectorRequest. Its
// requests start strictly in order; a request may start before the earlier ones are
// answered only if it cannot interact with them:
//   - a request about episodes (StartEpisode with an id, GetAction, LogAction, LogReturns,
//     EndEpisode, a VectorRequest: the episodes of its entries) waits while a request about
//     one of the same episodes, or a barrier, is in flight;
//   - a barrier (ReportSamples: its reply may be held for a busy learner, and nothing after it
//     may run ahead meanwhile) waits until nothing is in flight, and everything after it
//     waits for it;
//   - reads (GetConfig, GetWeights) and a StartEpisode without an id touch nothing a later
//     request could depend on. A read may therefore see state older than a request before
//     it that is still in flight (GetWeights behind a held GetAction may return the weights
//     before the ones that GetAction reports).
// Requests about different episodes commute, so each episode, and the connection as a
// whole, sees its requests applied in the order they were sent, while GetActions of many
// episodes wait in the batchers together (one forward pass).
//
// Not thread-safe: its owner serialises every call (the session's strand, VectorCall's mutex).
#include <string>
#include <unordered_map>
#include <vector>

#include "core/messages.h"

namespace tandem::server {

struct OrderKeys {
  bool barrier = false;
  std::vector<std::string> episodes;  // touched by the request (repeats allowed)
};

OrderKeys order_keys(const core::Request& r);
OrderKeys order_keys(const core::EpisodeRequest& r);

class RequestOrder {
 public:
  // Whether a request with these keys may start now (the earlier ones have started).
  bool may_start(const OrderKeys& k) const;
  void start(const OrderKeys& k);
  // Its reply came (every started request finishes once).
  void finish(const OrderKeys& k);
  bool idle() const { return in_flight_ == 0; }
  int in_flight() const { return in_flight_; }

 private:
  std::unordered_map<std::string, int> busy_;  // episode -> requests in flight about it
  int in_flight_ = 0;
  int barriers_ = 0;  // barriers in flight (0 or 1)
};

}  // namespace tandem::server
