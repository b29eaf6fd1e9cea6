#pragma once
// Local inference: the experience a client uploads is a core::ReportSamples (one agent's
// consecutive steps per AgentFragment, raw observations; the server validates and
// preprocesses them). split_to_frame_limit() cuts a report that would not fit in one frame.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/messages.h"

namespace tandem::client {

int64_t report_steps(const core::ReportSamples& r);    // agent steps in the fragments
size_t fragment_bytes(const core::AgentFragment& f);   // payload on the wire (from above)

// Moves steps [from, size()) of `f` into a new fragment; `f` keeps [0, from) and is
// bootstrapped from the first moved step's value (no longer terminated).
core::AgentFragment split_off(core::AgentFragment& f, int64_t from);

// Splits `r` into reports whose payload stays under `max_bytes`: fragments are spread over
// several reports, and a single fragment that is too large is cut into consecutive pieces
// (each bootstrapped from the next piece's first value). env_steps go with the first piece,
// the episode summary with the last one.
std::vector<core::ReportSamples> split_to_frame_limit(core::ReportSamples r, size_t max_bytes);

}  // namespace tandem::client
