#pragma once
// The learner thread.
//
// Data flow: SampleQueue::wait_take (fragments of every policy that has train_batch_size
// steps) -> SampleBatch::append (GAE) -> Algorithm::train (SGD; publishes a new immutable
// weight snapshot that the batchers pick up on their next flush) -> one result row
// (ResultsWriter) -> stop criteria. Serving never waits for it.
#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "policy_server/results_writer.h"
#include "policy_server/server_context.h"

namespace tandem::server {

class Learner {
 public:
  // `on_stop_criteria` is called (from the learner thread) when a stop criterion is met.
  Learner(ServerContext& ctx, std::function<void()> on_stop_criteria);
  ~Learner();
  void start();
  void stop();  // joins
  nlohmann::json last_result() const;
  bool trained() const { return trained_any_; }

 private:
  void loop();
  ServerContext& ctx_;
  std::function<void()> on_stop_;
  ResultsWriter writer_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> trained_any_{false};
  mutable std::mutex mu_;
  nlohmann::json last_;
};

nlohmann::json metrics_to_json(const IterationMetrics& m);

}  // namespace tandem::server
