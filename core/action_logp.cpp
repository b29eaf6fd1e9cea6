#include "core/action_logp.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace tandem::core {
namespace {

// log softmax(logits)[a], computed stably.
double categorical_logp(std::span<const float> logits, int64_t a) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  return static_cast<double>(logits[static_cast<size_t>(a)]) - mx - std::log(sum);
}

}  // namespace

int64_t dist_dim(const Space& action_space) {
  switch (action_space.kind) {
    case SpaceKind::Discrete:
    case SpaceKind::MultiDiscrete:
      return action_space.preprocessed_size();
    case SpaceKind::Box:
      return 2 * action_space.raw_size();
    case SpaceKind::Dict:  // never an action space (core/policy_set.cpp refuses it)
    case SpaceKind::Tuple:
      break;
  }
  return 0;
}

std::string validate_action(const Space& action_space, std::span<const int64_t> discrete,
                            std::span<const float> continuous) {
  // The part the space does not have must be empty: it would be recorded with the step, and a
  // fragment with it cannot be batched with the policy's other fragments (SampleBatch::append).
  if (action_space.kind == SpaceKind::Box) {
    if (!discrete.empty())
      return action_space.describe() + " action has no discrete part, got " + std::to_string(discrete.size()) +
             " value(s)";
    return action_space.validate(continuous);
  }
  if (!continuous.empty())
    return action_space.describe() + " action has no continuous part, got " + std::to_string(continuous.size()) +
           " value(s)";
  const std::vector<float> as_float(discrete.begin(), discrete.end());
  return action_space.validate(as_float);
}

int64_t discrete_action_width(const Space& action_space) {
  if (action_space.kind == SpaceKind::Box) return 0;
  return action_space.raw_size();
}

int64_t continuous_action_width(const Space& action_space) {
  return action_space.kind == SpaceKind::Box ? action_space.raw_size() : 0;
}

float action_logp(const Space& space, std::span<const float> dist_inputs,
                  std::span<const int64_t> discrete, std::span<const float> continuous) {
  switch (space.kind) {
    case SpaceKind::Discrete:
      return static_cast<float>(categorical_logp(dist_inputs.first(space.n), discrete[0]));
    case SpaceKind::MultiDiscrete: {
      double lp = 0;
      size_t off = 0;
      for (size_t i = 0; i < space.nvec.size(); ++i) {
        const auto n = static_cast<size_t>(space.nvec[i]);
        lp += categorical_logp(dist_inputs.subspan(off, n), discrete[i]);
        off += n;
      }
      return static_cast<float>(lp);
    }
    case SpaceKind::Dict:  // never an action space
    case SpaceKind::Tuple:
      return 0.f;
    case SpaceKind::Box: {
      const size_t d = continuous.size();
      double lp = 0;
      for (size_t i = 0; i < d; ++i) {
        const double mean = dist_inputs[i], log_std = dist_inputs[d + i];
        const double z = (continuous[i] - mean) / std::exp(log_std);
        lp += -0.5 * z * z - log_std - 0.5 * std::log(2.0 * std::numbers::pi);
      }
      return static_cast<float>(lp);
    }
  }
  return 0.f;
}

}  // namespace tandem::core
