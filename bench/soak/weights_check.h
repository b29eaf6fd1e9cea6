#pragma once
// The check of the served weights after the soak: GetConfig + GetWeights (all chunks) for
// every policy -> load_inference_model -> compute_actions / compute_values on CartPole
// observations (and the Box bounds): every output must be finite.
//
// Thread rules: called from main's thread once the clients are joined; its RawWs is its own.
#include <cstdint>
#include <string>

namespace tandem::soak {

// "" when every output is finite, else why not; *version_out: the version of the weights.
std::string check_weights(uint16_t port, int64_t* version_out);

}  // namespace tandem::soak
