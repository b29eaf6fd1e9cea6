#pragma once
// Log-probability of a given action under distribution inputs, without LibTorch
// (LogAction: the client chose the action; the server needs its behaviour log-prob).
// dist_inputs layout: Discrete -> n logits; MultiDiscrete -> concatenated logits of each
// component; Box -> mean (d values) then log_std (d values).
#include <cstdint>
#include <span>
#include <string>

#include "core/spaces.h"

namespace tandem::core {

// Floats of distribution inputs per step: Discrete n, MultiDiscrete sum(nvec), Box 2 * size.
int64_t dist_dim(const Space& action_space);
// Integers of a discrete action per step (Discrete 1, MultiDiscrete nvec.size(), Box 0) and
// floats of a continuous one (Box size, else 0).
int64_t discrete_action_width(const Space& action_space);
int64_t continuous_action_width(const Space& action_space);

// Checks an action against its space (Discrete/MultiDiscrete: `discrete`; Box: `continuous`,
// the other part must be empty), like Space::validate does for observations. Empty when valid.
std::string validate_action(const Space& action_space, std::span<const int64_t> discrete,
                            std::span<const float> continuous);

float action_logp(const Space& action_space, std::span<const float> dist_inputs,
                  std::span<const int64_t> discrete, std::span<const float> continuous);

}  // namespace tandem::core
