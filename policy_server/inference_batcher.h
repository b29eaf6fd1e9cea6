#pragma once
// One per policy: gathers the pending action requests of all sessions and answers them
// with one forward pass.
//
// Data flow: a session's read handler (I/O thread) -> RequestHandler validates and
// preprocesses -> enqueue(). The first enqueue into an empty batcher posts flush() to the
// io_context, so it runs on an I/O thread right after the read handlers that are already
// ready (those requests join the batch). A lone client therefore pays no thread hop: its
// request is computed on the thread that read it. flush() takes the newest weight snapshot
// (never waits for the learner), computes, and hands each request to `complete` when its
// last slot is filled.
//
// Backpressure: while a whole train batch of this policy already waits for a busy learner
// (SampleQueue::steps_pending >= hold_at), flush() is retried every millisecond instead of
// serving, so a fast simulator cannot run far ahead of training (the samples stay close to
// on-policy). hold_at = 0 disables it.
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "algorithms/policy.h"
#include "policy_server/pending_action.h"
#include "policy_server/policy_table.h"
#include "policy_server/run_stats.h"
#include "policy_server/sample_queue.h"

namespace tandem::server {

class InferenceBatcher {
 public:
  using Complete = std::function<void(const std::shared_ptr<PendingAction>&)>;

  InferenceBatcher(boost::asio::io_context& ioc, const PolicyTable& policies, int policy,
                   uint64_t seed, RunStats& stats, Complete complete,
                   const SampleQueue* samples = nullptr, int64_t hold_at = 0);

  void enqueue(std::shared_ptr<PendingAction> req, int slot);
  void flush();

 private:
  struct Item {
    std::shared_ptr<PendingAction> req;
    int slot;
  };
  boost::asio::io_context& ioc_;
  const PolicyTable& policies_;
  const int policy_;
  RunStats& stats_;
  Complete complete_;
  const int64_t obs_dim_;
  const SampleQueue* samples_;
  const int64_t hold_at_;
  boost::asio::steady_timer hold_timer_;
  bool holding_ = false;           // under flush_mu_: counted once per hold
  std::mutex mu_;                  // guards pending_ and scheduled_
  std::vector<Item> pending_;
  bool scheduled_ = false;
  std::mutex flush_mu_;            // one flush at a time; guards the buffers below
  std::vector<Item> batch_;
  std::vector<float> obs_, masks_;
  std::vector<uint8_t> explore_;
  std::vector<core::ActionResult> out_;
  std::mt19937_64 rng_;
};

}  // namespace tandem::server
