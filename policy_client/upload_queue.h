#pragma once
// Local inference: experience reports on their way from the simulator thread to the
// background thread that uploads them, with flow control and bounded memory.
//
// Data flow: simulator thread push() -> queue_ (bounded by max_buffered_steps: beyond it the
// oldest report is dropped, counted and logged) -> background thread take() (one report in
// flight) -> uploaded() / rejected() / dropped_in_flight().
//
// Flow control (push): while the server is reachable the simulator waits, at most
// max_block_s, until no more than max_unsent_steps wait here. Uploads are quick unless the
// server holds its reply because its learner is behind, so the simulator then waits for
// training exactly as a remote client does. While the server is unreachable (or stalled:
// a wait timed out) nothing waits.
// Thread rules: every method is thread-safe (one mutex); which thread calls what is noted.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/messages.h"
#include "policy_client/policy_client.h"

namespace tandem::client {

class UploadQueue {
 public:
  using Clock = std::chrono::steady_clock;
  UploadQueue(const ClientOptions& options, std::string endpoint);

  // ---- simulator thread ----
  void push(core::ReportSamples r);
  // Waits until nothing is queued or in flight; false at the deadline.
  bool wait_drained(Clock::time_point deadline);
  // Throws the first error kept since the last call (a rejected upload, a background failure).
  void throw_error();

  // ---- background thread ----
  // Waits until a report is queued, newer weights were signalled, stop() was called, or `until`.
  void wait_work(Clock::time_point until);
  std::optional<core::ReportSamples> take();  // the oldest report, now in flight
  void uploaded(int64_t steps);                // the report in flight was accepted
  void rejected(RequestError e);               // the server refused it (kept for the simulator)
  void dropped_in_flight(int64_t steps);       // given up on (closing, or a failure)
  void keep_error(RequestError e);             // kept unless an error is kept already
  int64_t drop_queued();                       // closing: drops what is queued; returns its steps
  void set_connected(bool connected);
  void signal_newer_weights();
  bool take_newer_weights();

  // ---- any thread ----
  void stop();
  bool stopping() const;
  bool empty() const;                          // nothing queued (in flight not counted)
  int64_t queued_steps() const;
  void set_reconnects(int64_t n);
  LocalStats counters() const;                 // upload, drop and connection counters

 private:
  void note_drop();  // caller holds mu_

  const ClientOptions opt_;
  const std::string endpoint_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, room_cv_;
  std::deque<core::ReportSamples> queue_;
  int64_t queued_steps_ = 0;
  bool in_flight_ = false;
  bool stop_ = false;
  bool stalled_ = false;       // a push timed out waiting; cleared by the next upload
  bool connected_ = true;
  bool newer_weights_ = false;
  static constexpr size_t kMaxKeptErrors = 64;  // thrown as one (first_of); more are counted only
  std::vector<RequestError> errors_;
  LocalStats stats_;
  Clock::time_point last_drop_log_{};
};

}  // namespace tandem::client
