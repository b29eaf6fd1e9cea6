// Scripted opponents; see scripted_policy.h.
#include "core/scripted_policy.h"

#include "core/action_logp.h"
#include "core/trajectory.h"

namespace tandem::core {
namespace {

// Uniform integer in [0, k), k >= 1, from 53 random bits (no modulo bias worth the name).
int64_t uniform_below(std::mt19937_64& rng, int64_t k) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  const auto i = static_cast<int64_t>(u * static_cast<double>(k));
  return i < k ? i : k - 1;
}

}  // namespace

std::optional<ScriptKind> script_kind_from_name(std::string_view name) {
  if (name == "random") return ScriptKind::kRandom;
  if (name == "always_same") return ScriptKind::kAlwaysSame;
  if (name == "linear") return ScriptKind::kLinear;
  if (name == "beat_last") return ScriptKind::kBeatLast;
  return std::nullopt;
}

const char* script_kind_name(ScriptKind kind) {
  switch (kind) {
    case ScriptKind::kRandom: return "random";
    case ScriptKind::kAlwaysSame: return "always_same";
    case ScriptKind::kLinear: return "linear";
    case ScriptKind::kBeatLast: return "beat_last";
  }
  return "unknown";
}

Status ScriptedPolicy::check_spaces(ScriptKind kind, const Space& observation, const Space& action) {
  if (action.kind != SpaceKind::Discrete) {
    return Status::error(ErrorCode::BadRequest, std::string("the scripted policy \"") +
                                                    script_kind_name(kind) +
                                                    "\" needs a Discrete action space, got " +
                                                    action.describe());
  }
  if (kind == ScriptKind::kBeatLast) {
    const auto& s = observation.shape;
    if (observation.kind != SpaceKind::Box || s.size() != 3 || s[2] != 2 || s[1] != action.n ||
        s[0] < 1) {
      return Status::error(ErrorCode::BadRequest,
                           "the scripted policy \"beat_last\" needs a Box observation of shape "
                           "[rows, " + std::to_string(action.n) + ", 2] (a board with the "
                           "opponent's stones in plane 1), got " + observation.describe());
    }
  }
  return Status::ok_status();
}

ScriptedPolicy::ScriptedPolicy(ScriptKind kind, const Space& observation, const Space& action)
    : kind_(kind), action_(action), n_(action.n) {
  if (kind == ScriptKind::kBeatLast) {
    rows_ = observation.shape[0];
    cols_ = observation.shape[1];
  }
}

bool ScriptedPolicy::allowed(std::span<const float> mask, int64_t a) const {
  return a >= 0 && a < n_ && (mask.empty() || mask[static_cast<size_t>(a)] != 0.f);
}

int64_t ScriptedPolicy::random_allowed(std::span<const float> mask, std::mt19937_64& rng) const {
  int64_t count = 0;
  for (int64_t a = 0; a < n_; ++a) count += allowed(mask, a);
  if (count == 0) return 0;  // the request checks refuse such a mask before it gets here
  int64_t pick = uniform_below(rng, count);
  for (int64_t a = 0; a < n_; ++a) {
    if (allowed(mask, a) && pick-- == 0) return a;
  }
  return 0;
}

int64_t ScriptedPolicy::act(std::span<const float> raw_obs, std::span<const float> mask,
                            ScriptMemory& memory, std::mt19937_64& rng) const {
  switch (kind_) {
    case ScriptKind::kRandom:
      return random_allowed(mask, rng);
    case ScriptKind::kAlwaysSame:
      if (memory.kept_action < 0) memory.kept_action = uniform_below(rng, n_);
      if (!allowed(mask, memory.kept_action)) memory.kept_action = random_allowed(mask, rng);
      return memory.kept_action;
    case ScriptKind::kLinear:
      for (int64_t a = 0; a < n_; ++a) {
        if (allowed(mask, a)) return a;
      }
      return 0;
    case ScriptKind::kBeatLast: {
      const auto cells = static_cast<size_t>(rows_ * cols_);
      std::vector<float> plane(cells, 0.f);
      for (size_t i = 0; i < cells && 2 * i + 1 < raw_obs.size(); ++i) plane[i] = raw_obs[2 * i + 1];
      if (memory.last_opponent_plane.size() != cells) memory.last_opponent_plane.assign(cells, 0.f);
      int64_t column = -1;
      int gained = 0;
      for (size_t i = 0; i < cells; ++i) {
        if (plane[i] != 0.f && memory.last_opponent_plane[i] == 0.f) {
          ++gained;
          column = static_cast<int64_t>(i) % cols_;
        }
      }
      memory.last_opponent_plane = std::move(plane);
      if (gained == 1 && allowed(mask, column)) return column;
      return random_allowed(mask, rng);
    }
  }
  return 0;
}

ActionResult scripted_action(const ScriptedPolicy& policy, std::span<const float> raw_obs,
                             std::span<const float> mask, int64_t num_actions, ScriptMemory& memory) {
  ActionResult r;
  r.discrete = {policy.act(raw_obs, mask, memory, memory.rng)};
  r.dist_inputs.assign(static_cast<size_t>(num_actions), 0.f);
  if (!mask.empty())
    for (size_t a = 0; a < r.dist_inputs.size() && a < mask.size(); ++a)
      if (mask[a] == 0.f) r.dist_inputs[a] = kMaskedLogit;
  // The log-prob under these dist_inputs (uniform over the allowed actions), so a local
  // client's report of the step passes the server's logp check.
  r.logp = action_logp(policy.action_space(), r.dist_inputs, r.discrete, {});
  r.weights_version = 0;
  return r;
}

}  // namespace tandem::core
