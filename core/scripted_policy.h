#pragma once
// Scripted (heuristic, never trained) policies for Discrete action spaces under an action
// mask: the four opponents of the Connect Four reference (003_0a409cef57d555f2.txt). They
// run where the learned policies run (the server's request core, or a local client), so a
// league can map an agent to one of them for an episode like to any other policy.
// - random:      uniform over the allowed actions.
// - always_same: one action drawn per episode (uniform over all n), kept while allowed;
//                when it is masked, a random allowed one is drawn and kept instead.
// - linear:      the lowest-numbered allowed action (Connect Four: the leftmost column).
// - beat_last:   the column the opponent played last, if allowed, else a random allowed
//                one. The observation must be Box [rows, cols, 2] with plane 1 = the
//                opponent's stones (Connect Four's); the opponent's last column is the one
//                column whose opponent plane gained a stone since this agent's previous
//                observation in the episode (ScriptMemory). No such single column (the
//                first move, or a board that changed otherwise): random allowed.
// No LibTorch; pure functions of (observation, mask, per-episode memory, RNG).
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy_spec.h"
#include "core/script_kind.h"
#include "core/spaces.h"
#include "core/status.h"

namespace tandem::core {

// What a scripted policy remembers about one agent in one episode. Start each episode
// with a default-constructed one.
struct ScriptMemory {
  int64_t kept_action = -1;                 // always_same: the action it keeps (-1: none yet)
  std::vector<float> last_opponent_plane;   // beat_last: opponent plane of the previous obs
  std::mt19937_64 rng;                      // the draws of scripted_action()
};

class ScriptedPolicy {
 public:
  // Checks that the script fits the spaces: a Discrete action space; for beat_last a Box
  // observation of shape [rows, cols, 2] with cols == n. Returns the reason otherwise.
  static Status check_spaces(ScriptKind kind, const Space& observation, const Space& action);

  // `observation` and `action` must have passed check_spaces.
  ScriptedPolicy(ScriptKind kind, const Space& observation, const Space& action);

  ScriptKind kind() const { return kind_; }
  const Space& action_space() const { return action_; }

  // One action for `raw_obs` (observation_space.raw_size() floats) under `mask` (n floats,
  // 1 = allowed; empty = all allowed). The mask must allow at least one action (the
  // request checks refuse one that allows none). Updates `memory`.
  int64_t act(std::span<const float> raw_obs, std::span<const float> mask, ScriptMemory& memory,
              std::mt19937_64& rng) const;

 private:
  int64_t random_allowed(std::span<const float> mask, std::mt19937_64& rng) const;
  bool allowed(std::span<const float> mask, int64_t a) const;

  ScriptKind kind_;
  Space action_;
  int64_t n_ = 0;      // number of actions
  int64_t rows_ = 0;   // beat_last: board rows
  int64_t cols_ = 0;   // beat_last: board columns (== n_)
};

// What a scripted policy answers for one agent, as the learned policies' ActionResult: the
// action, vf_pred 0, logp = log(1 / allowed actions), and dist_inputs 0 for each allowed action and kMaskedLogit for
// each masked one. Draws from memory.rng. The server's request core and the local client
// both call this (their episode cores keep the memory).
ActionResult scripted_action(const ScriptedPolicy& policy, std::span<const float> raw_obs,
                             std::span<const float> mask, int64_t num_actions, ScriptMemory& memory);

}  // namespace tandem::core
