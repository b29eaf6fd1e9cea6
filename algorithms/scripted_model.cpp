#include "algorithms/scripted_model.h"

#include <stdexcept>

#include "core/scripted_policy.h"

namespace tandem::algo {
namespace {

class ScriptedModel : public InferenceModel {
 public:
  explicit ScriptedModel(const PolicySpec& spec)
      : spec_(spec), script_(*spec.script, spec.observation_space, spec.action_space),
        weights_(std::make_shared<core::WeightTensors>()) {}

  int64_t version() const override { return 0; }

  void compute_actions(std::span<const float> obs, int64_t batch, std::span<const float> masks,
                       std::span<const uint8_t>, std::mt19937_64& rng,
                       std::vector<ActionResult>& out) const override {
    const auto obs_dim = static_cast<size_t>(spec_.observation_space.preprocessed_size());
    const auto n = static_cast<size_t>(spec_.action_space.n);
    const auto b = static_cast<size_t>(batch);
    if (batch < 0 || obs.size() != b * obs_dim || (!masks.empty() && masks.size() != b * n))
      throw std::invalid_argument("scripted policy: wrong observation or mask size");
    out.resize(b);
    for (size_t i = 0; i < b; ++i) {
      core::ScriptMemory memory;
      memory.rng.seed(rng());
      out[i] = core::scripted_action(script_, obs.subspan(i * obs_dim, obs_dim),
                                     masks.empty() ? masks : masks.subspan(i * n, n),
                                     spec_.action_space.n, memory);
    }
  }

  void compute_values(std::span<const float>, int64_t batch, std::vector<float>& out) const override {
    out.assign(static_cast<size_t>(batch), 0.f);
  }

  std::shared_ptr<const core::WeightTensors> weights() const override { return weights_; }
  std::string serialize_weights() const override { return {}; }

 private:
  PolicySpec spec_;
  core::ScriptedPolicy script_;
  std::shared_ptr<const core::WeightTensors> weights_;
};

}  // namespace

std::shared_ptr<const InferenceModel> make_scripted_model(const PolicySpec& spec) {
  if (!spec.script) throw std::invalid_argument("make_scripted_model: '" + spec.policy_id + "' is not scripted");
  return std::make_shared<ScriptedModel>(spec);
}

}  // namespace tandem::algo
