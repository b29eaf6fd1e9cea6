#pragma once
// Portable random numbers for the sims: the standard <random> distributions are not
// specified bit for bit, so a seeded sim would differ between standard libraries.
// These helpers depend only on std::mt19937_64, whose output sequence is fixed by the
// standard.
#include <cstdint>
#include <random>

namespace tandem::sims {

// Uniform double in [0, 1) with 53 random bits (like Python's random.random()).
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform double in [low, high), computed as numpy's uniform(): low + (high - low) * u.
inline double uniform(std::mt19937_64& rng, double low, double high) {
  return low + (high - low) * uniform01(rng);
}

}  // namespace tandem::sims
