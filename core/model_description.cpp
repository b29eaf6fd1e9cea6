#include "core/model_description.h"

#include <nlohmann/json.hpp>

#include "core/action_logp.h"
#include "core/trajectory.h"

namespace tandem::core {
namespace {

struct Layout {
  std::vector<std::string> pi_trunk, vf_trunk;
  std::vector<TensorSpec> tensors;
};

Layout layout(const PolicySpec& spec) {
  const auto& m = spec.config.model;
  const bool box = spec.action_space.kind == SpaceKind::Box;
  const bool free_log_std = box && m.free_log_std;
  const int64_t dd = dist_dim(spec.action_space);
  const int64_t num_outputs = free_log_std ? dd / 2 : dd;
  Layout l;
  auto linear = [&](const std::string& name, int64_t in, int64_t out) {
    l.tensors.push_back({name + ".weight", {out, in}});
    l.tensors.push_back({name + ".bias", {out}});
  };
  int64_t in = spec.observation_space.preprocessed_size();
  for (size_t i = 0; i < m.fcnet_hiddens.size(); ++i) {
    l.pi_trunk.push_back("pi_hidden_" + std::to_string(i));
    linear(l.pi_trunk.back(), in, m.fcnet_hiddens[i]);
    in = m.fcnet_hiddens[i];
  }
  linear("pi_out", in, num_outputs);
  int64_t vin = in;
  if (!m.vf_share_layers) {
    vin = spec.observation_space.preprocessed_size();
    for (size_t i = 0; i < m.fcnet_hiddens.size(); ++i) {
      l.vf_trunk.push_back("vf_hidden_" + std::to_string(i));
      linear(l.vf_trunk.back(), vin, m.fcnet_hiddens[i]);
      vin = m.fcnet_hiddens[i];
    }
  }
  linear("vf_out", vin, 1);
  if (free_log_std) l.tensors.push_back({"log_std", {num_outputs}});
  return l;
}

// The name of a space's kind: Box, Discrete, MultiDiscrete.
// Dict/Tuple observations: "composite" (each component preprocessed as its own kind, in
// the flattening order of core/spaces.h). Action spaces are never composite.
const char* by_kind(const Space& s, const char* box, const char* discrete, const char* multi_discrete) {
  switch (s.kind) {
    case SpaceKind::Box: return box;
    case SpaceKind::Discrete: return discrete;
    case SpaceKind::MultiDiscrete: return multi_discrete;
    case SpaceKind::Dict:
    case SpaceKind::Tuple: return "composite";
  }
  return "";
}

}  // namespace

std::vector<TensorSpec> model_tensors(const PolicySpec& spec) {
  if (spec.script) return {};
  return layout(spec).tensors;
}

nlohmann::json describe_model(const PolicySpec& spec) {
  if (spec.script)
    return {{"format", "tandem-scripted/1"},
            {"script", script_kind_name(*spec.script)},
            {"observation_space", spec.observation_space.to_json()},
            {"action_space", spec.action_space.to_json()},
            {"masked_logit", kMaskedLogit},
            {"tensors", nlohmann::json::array()}};
  const auto l = layout(spec);
  const auto& m = spec.config.model;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : l.tensors) tensors.push_back({{"name", t.name}, {"shape", t.shape}});
  return {{"format", "tandem-mlp-actor-critic/1"},
          {"observation_space", spec.observation_space.to_json()},
          {"action_space", spec.action_space.to_json()},
          {"preprocessing", by_kind(spec.observation_space, "flatten_clip", "one_hot", "multi_one_hot")},
          {"input_size", spec.observation_space.preprocessed_size()},
          {"observation_clip", spec.config.observation_clip},
          {"observation_filter", "NoFilter"},
          {"activation", m.fcnet_activation},
          {"policy_trunk", l.pi_trunk},
          {"policy_head", "pi_out"},
          {"value_trunk", m.vf_share_layers ? l.pi_trunk : l.vf_trunk},
          {"value_head", "vf_out"},
          {"vf_share_layers", m.vf_share_layers},
          {"distribution", by_kind(spec.action_space, "diag_gaussian", "categorical", "multi_categorical")},
          {"dist_dim", dist_dim(spec.action_space)},
          {"free_log_std", spec.action_space.kind == SpaceKind::Box && m.free_log_std},
          {"masked_logit", kMaskedLogit},
          {"tensors", tensors}};
}

nlohmann::json describe_models(const PolicySet& set) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : set.policies) j[p.policy_id] = describe_model(p);
  return j;
}

}  // namespace tandem::core
