#pragma once
// ReportSamples (local inference): a client's fragments become the same Trajectories that
// remote episodes produce, so both kinds of client feed one training pipeline.
//
// Data flow: RequestHandler::report_samples (I/O thread) -> RecentRequests::insert (a resent
// report is answered again, never applied twice) -> to_trajectory() for every fragment
// (validates every field; nothing is applied unless all fragments pass) -> SampleQueue
// (training-enabled reports) and RunStats (steps; the episode when episode_done).
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

#include "algorithms/policy.h"
#include "schemas/codec.h"

namespace tandem::server {

struct FragmentError {
  wire::fb::ErrorCode code = wire::fb::ErrorCode::None;
  std::string message;  // names the agent and the field
  explicit operator bool() const { return code != wire::fb::ErrorCode::None; }
};

// Checks one fragment against its policy's spaces and fills `out` (observations
// preprocessed, the client's log-probs, values and distribution inputs kept as behaviour
// policy data, bootstrap value as sent).
FragmentError to_trajectory(const wire::fb::Fragment& f, const algo::PolicySpec& spec,
                            algo::Trajectory& out);

// The request ids of the last `capacity` reports (ids are random 62-bit per client, so ids
// of different clients do not collide). Thread-safe.
class RecentRequests {
 public:
  explicit RecentRequests(size_t capacity = 1u << 16) : capacity_(capacity) {}
  // True when `id` is new (and remembers it); false for a resend.
  bool insert(uint64_t id);

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_set<uint64_t> set_;
  std::deque<uint64_t> order_;
};

}  // namespace tandem::server
