#pragma once
// Server checkpoints: RESULTS_DIR/checkpoint_NNNNNN/ holding <policy_id>.pt (model,
// optimizer and algorithm state, via Algorithm::save) and state.json (counters and the
// configuration). Written into a temporary folder, then renamed: a crash never leaves a
// half-written checkpoint under the final name.
#include <string>

#include "policy_server/server_context.h"

namespace tandem::server {

// Writes a checkpoint of the current state; prunes to keep_checkpoints_num. Returns its path.
std::string save_checkpoint(ServerContext& ctx);
// Loads `path` into ctx (weights, optimizer and algorithm state, counters). Throws
// std::runtime_error saying what differs when the checkpoint does not fit the configuration.
void restore_checkpoint(ServerContext& ctx, const std::string& path);

}  // namespace tandem::server
