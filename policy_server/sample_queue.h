#pragma once
// Finished trajectory fragments on their way to the learner.
//
// Data flow: I/O threads push() fragments (episode registry: fragment cut, agent done,
// episode end, ReportSamples) -> the learner thread wait_take()s every fragment of each
// policy that has at least its train_batch_size steps. Nothing is dropped while the
// server trains: a slow learner just trains on a larger batch next time.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "algorithms/sample_batch.h"
#include "policy_server/sample_output.h"

namespace tandem::server {

class SampleQueue {
 public:
  explicit SampleQueue(size_t num_policies)
      : pending_(num_policies), steps_(num_policies, 0), trained_(num_policies, 1) {}

  // A fragment of a training-enabled episode. With an experience output it is written there
  // first (also by a server that does not train).
  void push(int policy, algo::Trajectory&& t, const FragmentOrigin& origin);
  // Writes fragments to `out` (owned by the caller) with their policy ids.
  void set_output(SampleOutput* out, std::vector<std::string> policy_ids) {
    output_ = out;
    policy_ids_ = std::move(policy_ids);
  }
  // Waits up to `timeout` until some policy p has >= need[p] steps or stop() was called.
  // Returns, per policy, the fragments taken (empty for policies that were not ready).
  std::vector<std::vector<algo::Trajectory>> wait_take(const std::vector<int64_t>& need,
                                                       std::chrono::milliseconds timeout);
  void stop();
  int64_t steps_pending(int policy) const;
  int64_t steps_pushed() const { return pushed_.load(); }
  // A server that does not train (--no-train) turns this off: push() then drops fragments
  // instead of keeping them forever.
  void set_accepting(bool on) { accepting_.store(on); }
  // A policy that is served but not trained (policies_to_train) keeps nothing here either.
  // Setup only (before any push).
  void set_trained(int policy, bool on) { trained_.at(static_cast<size_t>(policy)) = on ? 1 : 0; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<algo::Trajectory>> pending_;
  std::vector<int64_t> steps_;
  bool stopped_ = false;
  std::atomic<int64_t> pushed_{0};
  std::atomic<bool> accepting_{true};
  std::vector<char> trained_;
  SampleOutput* output_ = nullptr;
  std::vector<std::string> policy_ids_;
};

}  // namespace tandem::server
