#include "policy_server/inference_batcher.h"

#include <boost/asio/post.hpp>

#include <utility>

#include "core/request_checks.h"

namespace tandem::server {

InferenceBatcher::InferenceBatcher(boost::asio::io_context& ioc, const PolicyTable& policies,
                                   int policy, uint64_t seed, RunStats& stats, Complete complete,
                                   const SampleQueue* samples)
    : ioc_(ioc),
      policies_(policies),
      policy_(policy),
      stats_(stats),
      complete_(std::move(complete)),
      obs_dim_(policies.spec(policy).observation_space.preprocessed_size()),
      samples_(samples),
      hold_timer_(ioc),
      rng_(seed) {}

void InferenceBatcher::enqueue(std::shared_ptr<PendingAction> req, int slot) {
  bool post = false;
  {
    std::lock_guard lk(mu_);
    if (!scheduled_) {
      post = scheduled_ = true;
      regrows_ = 0;
      opened_at_ = std::chrono::steady_clock::now();
    }
    pending_.push_back({std::move(req), slot});
    if (post) size_at_post_ = pending_.size();
  }
  if (post) boost::asio::post(ioc_, [this] { flush(); });
}

void InferenceBatcher::flush() {
  {
    // Frames read since the post joined the batch: more may be ready behind them.
    bool again = false;
    {
      std::lock_guard lk(mu_);
      if (pending_.size() > size_at_post_ && regrows_ < kMaxRegrows &&
          std::chrono::steady_clock::now() - opened_at_ < kMaxRegrowTime) {
        size_at_post_ = pending_.size();
        ++regrows_;
        again = true;
      }
    }
    if (again) return boost::asio::post(ioc_, [this] { flush(); });
  }
  std::lock_guard flk(flush_mu_);
  if (samples_ && samples_->must_wait(policy_)) {
    if (!holding_) stats_.backpressure_holds.fetch_add(1);
    holding_ = true;
    hold_timer_.expires_after(std::chrono::milliseconds(1));
    hold_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) flush();
    });
    return;
  }
  holding_ = false;
  {
    std::lock_guard lk(mu_);
    batch_.swap(pending_);
    scheduled_ = false;
  }
  if (batch_.empty()) return;
  const auto n = static_cast<int64_t>(batch_.size());
  obs_.resize(static_cast<size_t>(n * obs_dim_));
  explore_.resize(static_cast<size_t>(n));
  size_t mask_dim = 0;
  for (const auto& it : batch_) mask_dim = std::max(mask_dim, it.req->masks[it.slot].size());
  masks_.assign(mask_dim ? static_cast<size_t>(n) * mask_dim : 0, 1.f);
  for (int64_t i = 0; i < n; ++i) {
    const auto& it = batch_[i];
    const auto& o = it.req->obs[it.slot];
    std::copy(o.begin(), o.end(), obs_.begin() + i * obs_dim_);
    const auto& m = it.req->masks[it.slot];
    std::copy(m.begin(), m.end(), masks_.begin() + i * static_cast<int64_t>(mask_dim));
    explore_[i] = it.req->explore ? 1 : 0;
  }
  auto model = policies_.model(policy_);
  const auto& action_space = policies_.spec(policy_).action_space;
  try {
    model->compute_actions(obs_, n, masks_, explore_, rng_, out_);
    stats_.add_inference_batch(n);
    for (int64_t i = 0; i < n; ++i) {
      auto& it = batch_[i];
      auto& res = it.req->results[it.slot];
      res = std::move(out_[i]);
      res.weights_version = model->version();
      // LogAction: keep the model's value and distribution, take the client's action and
      // its log-probability under this distribution.
      if (const auto& logged = it.req->logged[it.slot]) core::adopt_logged_action(action_space, *logged, res);
      it.req->version.store(model->version());
    }
  } catch (const std::exception& e) {
    // Never an exception out of an I/O thread: every request of the batch gets an Error.
    const std::string why = "forward pass of policy '" + policies_.spec(policy_).policy_id + "' failed: " + e.what();
    for (auto& it : batch_) it.req->fail(why);
  }
  // Every item is counted down and the batch is empty afterwards, whatever complete_ does.
  auto done = std::exchange(batch_, {});
  for (auto& it : done) {
    if (it.req->remaining.fetch_sub(1) != 1) continue;
    try {
      complete_(it.req);
    } catch (const std::exception& e) {
      // Answer it all the same (through the ledger, as an Internal error: complete() checks
      // the failure first); never leave a request, and with it its connection, waiting.
      stats_.io_errors.fetch_add(1);
      it.req->fail(std::string("completing the request failed: ") + e.what());
      try {
        complete_(it.req);
      } catch (...) {
      }
    }
  }
  batch_ = std::move(done);  // keep the capacity for the next flush
  batch_.clear();
}

}  // namespace tandem::server
