#pragma once
// Local inference: the client's copies of the server's policies, one immutable
// InferenceModel per policy, replaced whole when newer weights arrive.
//
// Data flow: the background thread (or the constructor) calls fetch() on its connection ->
// GetWeights per policy (chunked Weights replies, reassembled) -> load_inference_model off
// the simulator thread -> swap under mu_. The simulator thread takes model(p) (a shared_ptr)
// and never waits for a fetch.
#include <memory>
#include <mutex>
#include <vector>

#include "algorithms/policy.h"
#include "core/policy_spec.h"
#include "policy_client/connection.h"
#include "policy_client/policy_client.h"

namespace tandem::client {

class WeightFetcher {
 public:
  explicit WeightFetcher(const std::vector<core::PolicySpec>& specs);

  // Background thread only. Fetches every policy whose server version is newer than ours
  // (any_version: whatever the server has, e.g. after it restarted with lower numbers).
  // Returns how many models were replaced. Throws ConnectionError / RequestError.
  int fetch(Connection& conn, bool any_version);

  // Any thread.
  std::shared_ptr<const algo::InferenceModel> model(int policy) const;
  bool complete() const;                     // every policy has a model
  int64_t first_version() const;             // version of the first learned (not scripted) policy (0 without one)
  bool behind(const std::vector<int64_t>& server_versions) const;  // any newer on the server
  void fill(LocalStats& s) const;            // weights_version, policy_versions, weight_updates

 private:
  const std::vector<core::PolicySpec>& specs_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const algo::InferenceModel>> models_;  // under mu_
  int64_t updates_ = 0;                                               // under mu_
};

}  // namespace tandem::client
