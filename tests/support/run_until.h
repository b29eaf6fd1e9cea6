#pragma once
// Driving an io_context until a condition holds or a deadline passes: the one wait loop of
// the deadline-bound raw clients (tests/support/raw_client.h, bench/soak/raw_ws). No doctest.
// Call it from the one thread that owns the io_context.
#include <chrono>

#include <boost/asio/io_context.hpp>

namespace tandem::test {

// A steady_clock deadline `seconds` from now.
inline std::chrono::steady_clock::time_point deadline_after(double seconds) {
  using Clock = std::chrono::steady_clock;
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Runs handlers of `ioc` until done() or `end`; returns done().
template <typename Done>
bool run_until(boost::asio::io_context& ioc, Done done, std::chrono::steady_clock::time_point end) {
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_until(end);
  }
  return true;
}

}  // namespace tandem::test
