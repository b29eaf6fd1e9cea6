#pragma once
// The state every soak client shares: the stop flag, the per-kind counters, the failure log,
// and the small helpers that record into them.
//
// Thread rules: every client thread writes its own kind's counters (atomics; several clients
// share a kind); g_fail takes its mutex; g_stop is set once, by main, when the soak is over.
// main reads the counters only after joining every client thread.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/messages.h"

namespace tandem::soak {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0);
Clock::time_point after(double s);  // now + s

extern std::atomic<bool> g_stop;  // the soak is over: clients finish what they do and return

// Failures of any client: counted, the first 30 kept (the first 5 printed at once).
struct Failures {
  std::mutex mu;
  std::vector<std::string> first;
  std::atomic<int64_t> count{0};
  void add(const std::string& what);
};
extern Failures g_fail;

enum Kind { kRemote, kLocal, kNeverReads, kGarbage, kHandover, kResend, kManyEpisodes, kExtreme, kNumKinds };
const char* kind_name(int k);

struct KindStats {
  std::atomic<int64_t> clients{0}, connections{0}, requests{0}, errors{0}, unexpected{0}, steps{0}, episodes{0};
  std::atomic<int64_t> stalls{0};  // never-reads: writes the server stopped taking
  std::atomic<int64_t> resends{0}; // resend/handover: resends answered with the original reply
};
extern std::array<KindStats, kNumKinds> g_stats;
extern std::array<std::array<std::atomic<int64_t>, 16>, kNumKinds> g_codes;  // Error replies by ErrorCode
extern std::array<std::atomic<int64_t>, kNumKinds> g_open;  // episodes a kind leaves open on purpose

// An Error reply that was the expected answer.
void got_error(int kind, const core::Reply& r);
// Anything a client of `kind` did not expect: counted and logged as a failure.
void unexpected(int kind, const std::string& what);
// "Ack", "Error{BadRequest: ...}" (for failure messages).
std::string describe(const core::Reply& r);

// Sleeps up to `s` seconds, returning early when the soak stops.
void nap(double s);

}  // namespace tandem::soak
