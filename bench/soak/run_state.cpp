// The soak's shared state and its recording helpers (thread rules: run_state.h).
#include "run_state.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <variant>

#include "core/status.h"

namespace tandem::soak {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
Clock::time_point after(double s) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::atomic<bool> g_stop{false};
Failures g_fail;
std::array<KindStats, kNumKinds> g_stats;
std::array<std::array<std::atomic<int64_t>, 16>, kNumKinds> g_codes{};
std::array<std::atomic<int64_t>, kNumKinds> g_open{};

void Failures::add(const std::string& what) {
  ++count;
  std::lock_guard lk(mu);
  if (first.size() < 30) first.push_back(what);
  if (first.size() <= 5) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

const char* kind_name(int k) {
  static const char* names[] = {"remote", "local", "never-reads", "garbage", "handover", "resend", "many-episodes", "extreme"};
  return names[k];
}

void got_error(int kind, const core::Reply& r) {
  ++g_stats[kind].errors;
  if (const auto* e = std::get_if<core::Error>(&r)) ++g_codes[kind][static_cast<size_t>(e->code) & 15];
}

void unexpected(int kind, const std::string& what) {
  ++g_stats[kind].unexpected;
  g_fail.add(std::string(kind_name(kind)) + ": " + what);
}

std::string describe(const core::Reply& r) {
  std::string s = core::reply_name(r);
  if (const auto* e = std::get_if<core::Error>(&r))
    s += std::string("{") + core::error_code_name(e->code) + ": " + e->message.substr(0, 160) + "}";
  return s;
}

void nap(double s) {
  const auto end = after(s);
  while (!g_stop && Clock::now() < end) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(std::min(50.0, s * 1000)));
}

}  // namespace tandem::soak
