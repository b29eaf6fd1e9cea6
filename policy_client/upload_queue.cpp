#include "policy_client/upload_queue.h"

#include <spdlog/spdlog.h>

#include "policy_client/upload_report.h"

namespace tandem::client {

UploadQueue::UploadQueue(const ClientOptions& options, std::string endpoint)
    : opt_(options), endpoint_(std::move(endpoint)) {}

void UploadQueue::push(core::ReportSamples r) {
  std::unique_lock lk(mu_);
  const int64_t n = report_steps(r);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(opt_.max_block_s));
  const bool room = room_cv_.wait_until(lk, deadline, [&] {
    return !connected_ || stop_ || stalled_ || queued_steps_ <= opt_.max_unsent_steps;
  });
  if (!room) {
    // The server accepts the connection but does not answer: stop waiting for it until an
    // upload goes through again.
    stalled_ = true;
    spdlog::warn("local PolicyClient: {} has not accepted an upload for {} s; going on without "
                 "waiting (experience is buffered)", endpoint_, opt_.max_block_s);
  }
  while (queued_steps_ + n > opt_.max_buffered_steps && !queue_.empty()) {
    stats_.dropped_steps += report_steps(queue_.front());
    stats_.dropped_reports += 1;
    queued_steps_ -= report_steps(queue_.front());
    queue_.pop_front();
    note_drop();
  }
  queued_steps_ += n;
  queue_.push_back(std::move(r));
  lk.unlock();
  work_cv_.notify_one();
}

void UploadQueue::note_drop() {
  if (Clock::now() - last_drop_log_ < std::chrono::seconds(10)) return;
  last_drop_log_ = Clock::now();
  spdlog::warn("local PolicyClient: upload buffer full ({} steps) and server {}; dropped the "
               "oldest experience ({} steps dropped so far)",
               opt_.max_buffered_steps, connected_ ? "slow" : "unreachable", stats_.dropped_steps);
}

bool UploadQueue::wait_drained(Clock::time_point deadline) {
  std::unique_lock lk(mu_);
  return room_cv_.wait_until(lk, deadline, [&] { return queue_.empty() && !in_flight_; });
}

void UploadQueue::throw_error() {
  std::lock_guard lk(mu_);
  if (errors_.empty()) return;
  auto e = first_of(errors_);
  errors_.clear();
  throw e;
}

void UploadQueue::wait_work(Clock::time_point until) {
  std::unique_lock lk(mu_);
  work_cv_.wait_until(lk, until, [&] { return stop_ || !queue_.empty() || newer_weights_; });
}

std::optional<core::ReportSamples> UploadQueue::take() {
  std::lock_guard lk(mu_);
  if (queue_.empty()) return std::nullopt;
  auto r = std::move(queue_.front());
  queue_.pop_front();
  queued_steps_ -= report_steps(r);
  in_flight_ = true;
  room_cv_.notify_all();
  return r;
}

void UploadQueue::uploaded(int64_t steps) {
  std::lock_guard lk(mu_);
  stats_.uploaded_steps += steps;
  stats_.uploaded_reports += 1;
  in_flight_ = false;
  stalled_ = false;
  room_cv_.notify_all();
}

void UploadQueue::rejected(RequestError e) {
  std::lock_guard lk(mu_);
  stats_.rejected_reports += 1;
  if (errors_.size() < kMaxKeptErrors) errors_.push_back(std::move(e));
  in_flight_ = false;
  stalled_ = false;
  room_cv_.notify_all();
}

void UploadQueue::dropped_in_flight(int64_t steps) {
  std::lock_guard lk(mu_);
  if (in_flight_) {
    stats_.dropped_steps += steps;
    stats_.dropped_reports += 1;
  }
  in_flight_ = false;
  room_cv_.notify_all();
}

void UploadQueue::keep_error(RequestError e) {
  std::lock_guard lk(mu_);
  if (errors_.size() < kMaxKeptErrors) errors_.push_back(std::move(e));
}

int64_t UploadQueue::drop_queued() {
  std::lock_guard lk(mu_);
  const int64_t lost = queued_steps_;
  stats_.dropped_steps += queued_steps_;
  stats_.dropped_reports += static_cast<int64_t>(queue_.size());
  queue_.clear();
  queued_steps_ = 0;
  room_cv_.notify_all();
  return lost;
}

void UploadQueue::set_connected(bool connected) {
  {
    std::lock_guard lk(mu_);
    connected_ = connected;
  }
  room_cv_.notify_all();  // callers waiting for room stop waiting when the server is gone
}

void UploadQueue::signal_newer_weights() {
  std::lock_guard lk(mu_);
  newer_weights_ = true;
}

bool UploadQueue::take_newer_weights() {
  std::lock_guard lk(mu_);
  return std::exchange(newer_weights_, false);
}

void UploadQueue::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  room_cv_.notify_all();
}

bool UploadQueue::stopping() const {
  std::lock_guard lk(mu_);
  return stop_;
}

bool UploadQueue::empty() const {
  std::lock_guard lk(mu_);
  return queue_.empty();
}

int64_t UploadQueue::queued_steps() const {
  std::lock_guard lk(mu_);
  return queued_steps_;
}

void UploadQueue::set_reconnects(int64_t n) {
  std::lock_guard lk(mu_);
  stats_.reconnects = n;
}

LocalStats UploadQueue::counters() const {
  std::lock_guard lk(mu_);
  LocalStats s = stats_;
  s.buffered_steps = queued_steps_;
  s.connected = connected_;
  return s;
}

}  // namespace tandem::client
