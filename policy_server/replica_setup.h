#pragma once
// A tandem-server as one replica of a group (algorithms/replica_group.h; docs/ARCHITECTURE.md,
// "Past one machine"): its config keys, and its start-up.
//
//   config: "group_rank", "group_size", "group_master" ("HOST:PORT" of rank 0's store),
//           "group_host", "group_timeout_s", "group_join_timeout_s"; --group-rank,
//           --group-size, --group-master on the command line.
//   form_replica_group(ctx), in Server's constructor before anything is served:
//     1. rendezvous: every rank connects to rank 0's TCPStore (group_join_timeout_s);
//     2. the configs agree: each rank puts what must be equal (algorithm, hyperparameters,
//        policies, spaces, models, mapping, training switches) in the store; every rank
//        compares every rank's with rank 0's, and on a difference every rank stops, naming
//        the first differing keys and their values;
//     3. one state: rank 0 (after its --restore, if any) sends each policy's full state
//        (weights, optimizer, algorithm state) and the iteration counter; the others load it,
//        so the weights are bit-identical before the first step;
//     4. the algorithms join the group (from then on train() is a collective).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "algorithms/replica_group.h"

namespace tandem::server {

struct ServerConfig;
struct ServerContext;

// The group_* keys of a server config (absent: no group). Throws std::invalid_argument naming
// the key.
algo::GroupConfig parse_group_config(const nlohmann::json& j);
void write_group_config(const algo::GroupConfig& g, nlohmann::json& j);

// What must be equal on every rank, as JSON.
nlohmann::json group_fingerprint(const ServerConfig& c);
// Empty if `mine` equals `theirs`, else the first differing keys with both values.
std::string fingerprint_difference(const nlohmann::json& theirs, const nlohmann::json& mine, int their_rank,
                                   int my_rank);

// Steps 1-4 above. Throws algo::GroupError (rendezvous failed) or std::invalid_argument (the
// configs differ, or the setup cannot train in a group: --no-train, offline input, a league).
std::unique_ptr<algo::ReplicaGroup> form_replica_group(ServerContext& ctx);

}  // namespace tandem::server
