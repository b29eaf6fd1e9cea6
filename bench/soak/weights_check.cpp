// The served-weights check (thread rules: weights_check.h).
#include "weights_check.h"

#include <cmath>
#include <optional>
#include <random>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "algorithms/policy.h"
#include "core/policy_set.h"
#include "raw_ws.h"
#include "sims/cartpole.h"

namespace tandem::soak {

std::string check_weights(uint16_t port, int64_t* version_out) {
  RawWs ws;
  if (!ws.connect(port, "soak-weights-check")) return "cannot connect";
  auto send_read = [&](uint64_t rid, const core::Request& r) -> std::optional<wire::DecodedReply> {
    if (!ws.send(rid, r)) return std::nullopt;
    auto f = ws.read(30);
    if (!f) return std::nullopt;
    return wire::decode_reply(*f);
  };
  auto c = send_read(1, core::GetConfig{});
  if (!c || !c->status.ok() || !std::holds_alternative<core::Config>(c->reply)) return "GetConfig failed";
  const auto set = core::read_policies(nlohmann::json::parse(std::get<core::Config>(c->reply).json), core::AlgoConfig{});
  std::string out;
  for (const auto& spec : set.policies) {
    auto w = send_read(2, core::GetWeights{spec.policy_id, -1});
    if (!w || !w->status.ok() || !std::holds_alternative<core::Weights>(w->reply)) return "GetWeights failed";
    auto weights = std::get<core::Weights>(w->reply);
    core::WeightAssembler parts;
    for (;;) {
      if (!parts.add(weights).ok()) return "bad weight chunk";
      if (parts.complete()) break;
      auto f = ws.read(30);
      if (!f) return "missing weight chunk";
      auto d = wire::decode_reply(*f);
      if (!d.status.ok() || !std::holds_alternative<core::Weights>(d.reply)) return "bad weight chunk";
      weights = std::get<core::Weights>(d.reply);
    }
    *version_out = weights.version;
    auto model = algo::load_inference_model(spec, parts.take(), weights.version);
    sims::CartPole env(42);
    std::vector<float> obs;
    constexpr int kBatch = 64;
    auto o = env.reset();
    for (int i = 0; i < kBatch; ++i) {
      obs.insert(obs.end(), o.begin(), o.end());
      auto st = env.step(i % 3 == 0 ? 0 : 1);
      o = st.terminated || st.truncated ? env.reset() : st.obs;
    }
    // A few extreme but legal observations too (the Box bounds).
    for (int i = 0; i < 4; ++i) obs[static_cast<size_t>(i) * 5] = i % 2 ? 100.f : -100.f;
    std::mt19937_64 rng(1);
    std::vector<algo::ActionResult> res;
    model->compute_actions(obs, kBatch, {}, {}, rng, res);
    std::vector<float> values;
    model->compute_values(obs, kBatch, values);
    int bad = 0;
    for (const auto& r : res) {
      bad += !std::isfinite(r.vf_pred) || !std::isfinite(r.logp);
      for (float x : r.dist_inputs) bad += !std::isfinite(x);
    }
    for (float v : values) bad += !std::isfinite(v);
    if (bad) out += spec.policy_id + ": " + std::to_string(bad) + " non-finite outputs; ";
    if (res.size() != kBatch) out += spec.policy_id + ": " + std::to_string(res.size()) + " results; ";
  }
  return out;
}

}  // namespace tandem::soak
