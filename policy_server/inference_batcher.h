#pragma once
// One per policy: gathers the pending action requests of all sessions and answers them
// with one forward pass.
//
// Data flow: a session's read handler (I/O thread) -> RequestHandler validates and
// preprocesses -> enqueue(). The first enqueue into an empty batcher posts flush() to the
// io_context, behind the handlers that are ready (the session starts its next read before
// it hands a request over, so a frame pipelined behind it is among them): those requests
// join the batch. While the batch keeps growing between two runs of flush() (the next
// pipelined frame was read meanwhile), flush() posts itself again instead of computing: at
// most kMaxRegrows times per batch and only within kMaxRegrowTime of its first request, so
// no connection can keep a batch open. A lone client therefore pays no thread hop and no
// extra wait: with one I/O thread its request is computed on the thread that read it.
// flush() takes the newest weight snapshot (never waits for the learner), computes, and
// hands each request to `complete` when its last slot is filled.
//
// Backpressure: while serving of this policy must wait for the learner
// (SampleQueue::must_wait: one batch collected ahead of the one being trained, or a whole
// batch waiting untaken), flush() is retried every millisecond instead of serving, so a fast
// simulator cannot run far ahead of training (the samples stay close to on-policy).
#include <chrono>
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
                   const SampleQueue* samples = nullptr);

  static constexpr int kMaxRegrows = 64;
  static constexpr std::chrono::microseconds kMaxRegrowTime{500};

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
  boost::asio::steady_timer hold_timer_;
  bool holding_ = false;           // under flush_mu_: counted once per hold
  std::mutex mu_;                  // guards pending_, scheduled_ and the three below
  std::vector<Item> pending_;
  bool scheduled_ = false;
  size_t size_at_post_ = 0;        // pending_.size() when flush() was last posted
  int regrows_ = 0;                // posts since the batch was opened
  std::chrono::steady_clock::time_point opened_at_;  // the batch's first request
  std::mutex flush_mu_;            // one flush at a time; guards the buffers below
  std::vector<Item> batch_;
  std::vector<float> obs_, masks_;
  std::vector<uint8_t> explore_;
  std::vector<core::ActionResult> out_;
  std::mt19937_64 rng_;
};

}  // namespace tandem::server
