#pragma once
// Offline experience as JSON lines in RLlib's SampleBatch layout: what a server's `output`
// writes and its `input` reads; lines written by RLlib's JsonWriter (the reference
// 000_b1f235017605f7f7.txt) read too. One line = one batch of T rows, every column T long:
//
//   {"type": "SampleBatch", "policy_id": "default_policy",
//    "obs": [[..] x T], "new_obs": [[..] x T],          rows of obs_dim floats (preprocessed,
//                                                        as the learner sees them)
//    "actions": [..], "prev_actions": [..],              Discrete: ints; MultiDiscrete: [ints];
//                                                        Box: [floats]
//    "rewards": [..], "prev_rewards": [..], "dones": [bool], "truncateds": [bool],
//    "t": [int], "eps_id": [..], "unroll_id": [int], "agent_index": [int],
//    "action_prob": [..], "action_logp": [..], "action_dist_inputs": [[..]],
//    "vf_preds": [..], "advantages": [..], "value_targets": [..],
//    "agent_id": [str], "bootstrap_value": [..]}                  Tandem's (RLlib has neither)
//
// dones[i]: the agent's episode ended at row i (terminated or truncated, RLlib's old
// meaning); truncateds[i]: it was a time limit (bootstrap from new_obs). A line without
// "truncateds" (RLlib's) has every done terminal. eps_id: Tandem writes the episode id text;
// RLlib wrote integers, read as their decimal text. prev_actions / prev_rewards are those of
// the same agent's previous step (t - 1) in the same line (zeros when it is not in the line),
// action_prob = exp(action_logp). agent_id: the agent's id text; bootstrap_value[i]: the
// value the server bootstrapped row i's return with (V(s_{i+1}) at a fragment's cut or a
// truncation; 0 elsewhere). pandas.read_json(path, lines=True) reads every column.
//
// Torch-free, network-free.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/spaces.h"
#include "core/status.h"
#include "core/trajectory.h"

namespace tandem::core {

struct OfflineBatch {
  std::string policy_id;                  // "" when the line names none (RLlib's lines)
  int64_t count = 0;                      // rows T
  int64_t obs_dim = 0;                    // floats per obs / new_obs row
  std::vector<float> obs;                 // T * obs_dim
  std::vector<float> new_obs;             // T * obs_dim
  int64_t action_width = 0;               // Discrete 1, MultiDiscrete n, Box d
  std::vector<int64_t> actions;           // T * action_width (Discrete, MultiDiscrete)
  std::vector<float> actions_cont;        // T * action_width (Box)
  std::vector<float> rewards;             // T
  std::vector<uint8_t> dones;             // T
  std::vector<uint8_t> truncateds;        // T
  std::vector<int64_t> t;                 // T: step index in the agent's episode
  std::vector<std::string> eps_id;        // T
  std::vector<int64_t> unroll_id;         // T (0 when absent)
  std::vector<int64_t> agent_index;       // T (0 when absent)
  // Optional columns: empty when the line has none.
  std::vector<float> action_logp;         // T: behaviour log-prob
  int64_t dist_dim = 0;
  std::vector<float> action_dist_inputs;  // T * dist_dim
  std::vector<float> vf_preds;            // T
  std::vector<float> advantages;          // T
  std::vector<float> value_targets;       // T
  std::vector<std::string> agent_id;      // T
  std::vector<float> bootstrap_value;     // T
};

// Appends a fragment's T rows: obs, new_obs (the next row's obs; after the last row
// origin.next_obs, or the row's own obs when that is unknown), actions, rewards, dones /
// truncateds (last row: done when origin.agent_done or t.terminated; truncated when
// origin.agent_done and not t.terminated), t (from
// origin.first_step), eps_id, agent_index, and the behaviour's action_logp, dist inputs and
// vf_preds, agent_id and bootstrap_value (last row: t.bootstrap_value). unroll_id is 0; advantages and value_targets stay empty (the learner's batch has
// them). `b.obs_dim` / `action_width` / `dist_dim` are set by the first fragment; a fragment
// of another width throws std::invalid_argument.
void append_fragment(OfflineBatch& b, const Trajectory& t, const FragmentOrigin& origin);

// One line, no newline. `action_space` decides how actions are written (see above). Columns
// must be consistent (encode checks nothing: the writer builds them).
std::string encode_offline_line(const OfflineBatch& b, const Space& action_space);

// Parses one line into `out` for a policy with these spaces. obs rows must be
// preprocessed_size() wide, or raw_size() wide (then preprocessed here). Every column present
// must have T rows of the right width and every number finite; Discrete/MultiDiscrete actions
// must lie in the space (Box actions need only be finite: RLlib writes normalized actions and
// Gaussian samples are unclipped); "obs", "actions", "rewards" are required, "new_obs" defaults to the next row's
// obs (the last row's own obs at a line's end), "dones" to false, "t" to the row index,
// "eps_id" to "0". BadRequest naming the column and row otherwise.
// With `only_policy`, a line naming another policy_id is not decoded (its spaces may differ):
// `out` is then empty but for its policy_id.
Status decode_offline_line(std::string_view line, const Space& obs_space, const Space& action_space,
                           OfflineBatch& out, std::string_view only_policy = {});

}  // namespace tandem::core
