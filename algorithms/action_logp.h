#pragma once
// Log-probability of a given action under distribution inputs, without LibTorch
// (LogAction: the client chose the action; the server needs its behaviour log-prob).
// dist_inputs layout: Discrete -> n logits; MultiDiscrete -> concatenated logits of each
// component; Box -> mean (d values) then log_std (d values).
#include <cstdint>
#include <span>

#include "algorithms/spaces.h"

namespace tandem::algo {

float action_logp(const Space& action_space, std::span<const float> dist_inputs,
                  std::span<const int64_t> discrete, std::span<const float> continuous);

}  // namespace tandem::algo
