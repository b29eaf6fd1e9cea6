#pragma once
// A scripted policy (core/scripted_policy.h) behind the InferenceModel interface, so that the
// places that hold one model per policy (the policy table, checkpoints, truncation values)
// hold one for it too. Stateless: compute_actions gives each row a fresh memory, so
// always_same and beat_last act as on an episode's first move there. Episodes get the
// scripts' memory from the episode core instead (EpisodeCore::scripted_act), which the
// server's request core and the local client call. No weights, version 0, values 0.
#include "algorithms/policy.h"

namespace tandem::algo {

// `spec.script` must be set.
std::shared_ptr<const InferenceModel> make_scripted_model(const PolicySpec& spec);

}  // namespace tandem::algo
