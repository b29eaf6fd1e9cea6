#pragma once
// Factories of the LibTorch algorithms, for the registry (algorithm_registry.cpp, which
// stays torch-free). Torch-free header.
#include <cstdint>
#include <memory>

#include "algorithms/policy.h"

namespace tandem::algo {

std::unique_ptr<Algorithm> make_ppo(const PolicySpec& spec, uint64_t seed);
std::unique_ptr<Algorithm> make_a2c(const PolicySpec& spec, uint64_t seed);
std::unique_ptr<Algorithm> make_marwil(const PolicySpec& spec, uint64_t seed);  // offline only
std::unique_ptr<Algorithm> make_crr(const PolicySpec& spec, uint64_t seed);     // offline only, Box actions

}  // namespace tandem::algo
