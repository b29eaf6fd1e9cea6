// The C++ local client's model of a server's policy, evaluated on given observations: the
// reference side of the Python client's parity test (tests/python/test_parity.py).
//
//   model_eval ws://127.0.0.1:PORT < rows.json > out.json
//   rows.json: [{"policy": "p", "obs": [...], "mask": [...] (optional),
//                "discrete": [...] / "continuous": [...] (optional: an action to score)}, ...]
//   out.json:  [{"dist_inputs": [...], "vf_pred": v, "greedy_discrete": [...],
//                "greedy_continuous": [...], "greedy_logp": lp, "action_logp": lp|null,
//                "weights_version": n}, ...]
// Weights come through the C++ local client's own path (GetConfig, GetWeights, WeightFetcher).
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/action_logp.h"
#include "core/policy_set.h"
#include "policy_client/connection.h"
#include "policy_client/weight_fetcher.h"

using namespace tandem;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: model_eval ws://HOST:PORT < rows.json\n";
    return 2;
  }
  try {
    client::ClientOptions opt;
    opt.reconnect_timeout_s = 10;
    client::Connection conn(argv[1], opt);
    conn.reconnect("connecting");
    const auto cfg = conn.call_as<core::Config>(conn.next_id(), core::GetConfig{}, "GetConfig").json;
    const auto set = core::read_policies(nlohmann::json::parse(cfg), core::AlgoConfig{});
    client::WeightFetcher weights(set.policies);
    weights.fetch(conn, true);
    const auto rows = nlohmann::json::parse(std::cin);
    nlohmann::json out = nlohmann::json::array();
    std::mt19937_64 rng(1);
    for (const auto& row : rows) {
      const int p = set.index_of(row.at("policy").get<std::string>());
      if (p < 0) throw std::invalid_argument("unknown policy " + row.at("policy").dump());
      const auto& spec = set.policies[static_cast<size_t>(p)];
      const auto raw = row.at("obs").get<std::vector<float>>();
      const auto mask = row.value("mask", std::vector<float>{});
      std::vector<float> pre;
      core::preprocess_observation(spec, raw, pre);
      std::vector<core::ActionResult> res;
      const uint8_t greedy = 0;
      weights.model(p)->compute_actions(pre, 1, mask, {&greedy, 1}, rng, res);
      const auto& r = res[0];
      nlohmann::json o = {{"dist_inputs", r.dist_inputs}, {"vf_pred", r.vf_pred},
                          {"greedy_discrete", r.discrete}, {"greedy_continuous", r.continuous},
                          {"greedy_logp", r.logp}, {"weights_version", weights.model(p)->version()}};
      if (row.contains("discrete") || row.contains("continuous")) {
        const auto d = row.value("discrete", std::vector<int64_t>{});
        const auto c = row.value("continuous", std::vector<float>{});
        o["action_logp"] = core::action_logp(spec.action_space, r.dist_inputs, d, c);
      } else {
        o["action_logp"] = nullptr;
      }
      out.push_back(o);
    }
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "model_eval: " << e.what() << "\n";
    return 1;
  }
}
