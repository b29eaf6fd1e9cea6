#pragma once
// Offline rows (core::OfflineBatch, RLlib's SampleBatch layout) cut into the pieces of
// episodes they hold, and copied piece by piece. Torch-free: the server's offline sampler,
// MARWIL's returns and the off-policy estimate all split rows with this one rule.
#include <cstdint>
#include <vector>

#include "core/offline_json.h"

namespace tandem::algo {

// Rows [begin, end) of one agent's episode, in order. `terminated`: the piece ends the
// episode at a terminal state (dones set, truncateds not): nothing to bootstrap. Otherwise
// (a time limit, or the rows stop mid-episode) the return is bootstrapped from V(new_obs)
// of its last row.
struct OfflineSegment {
  int64_t begin = 0;
  int64_t end = 0;
  bool terminated = false;
  int64_t size() const { return end - begin; }
};

// A piece ends after a row whose `dones` is set, and before a row of another eps_id or
// agent_index, or whose `t` does not follow its predecessor's (two pieces of one episode
// side by side in a shuffled batch stay apart).
std::vector<OfflineSegment> offline_segments(const core::OfflineBatch& b);

// Appends rows [begin, end) of `src` to `dst` (every column `src` has; `dst` empty or with
// the same widths and optional columns). Throws std::invalid_argument when they differ.
void append_offline_rows(const core::OfflineBatch& src, int64_t begin, int64_t end, core::OfflineBatch& dst);

}  // namespace tandem::algo
