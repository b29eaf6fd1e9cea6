#include <doctest/doctest.h>

#include "policy_server/server_config.h"

using tandem::server::parse_server_config;

namespace {
nlohmann::json base() {
  return nlohmann::json::parse(R"({"policies": {"p": {"observation_space": {"type": "box", "shape": [4]},
                                                      "action_space": {"type": "discrete", "n": 2}}}})");
}
std::string error_of(const nlohmann::json& j) {
  try {
    parse_server_config(j);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("server config: defaults and the single-policy mapping") {
  auto c = parse_server_config(base());
  CHECK(c.algorithm == "ppo");
  CHECK(c.host == "127.0.0.1");
  CHECK(c.policy_set().policy_for_agent("anyone") == 0);
}

TEST_CASE("server config: unknown keys and bad values are named") {
  auto j = base();
  j["prot"] = 1;
  CHECK(error_of(j).find("'prot'") != std::string::npos);
  j = base();
  j["port"] = 70000;
  CHECK(error_of(j).find("'port'") != std::string::npos);
  j = base();
  j["algorithm"] = "dqn";
  CHECK(error_of(j).find("'algorithm'") != std::string::npos);
  j = base();
  j["config"] = {{"lr", -1}};
  CHECK(error_of(j).find("lr") != std::string::npos);
  j = base();
  j["policy_mapping"] = {{"agent1", "missing"}};
  CHECK(error_of(j).find("missing") != std::string::npos);
  j = base();
  j["stop"] = {{"reward", 3}};
  CHECK(error_of(j).find("stop.reward") != std::string::npos);
  for (double bad : {0.0, -1.0, 1e9}) {
    j = base();
    j["report_interval_s"] = bad;
    CHECK(error_of(j).find("'report_interval_s'") != std::string::npos);
  }
  j = base();
  j["report_interval_s"] = "soon";
  CHECK(error_of(j).find("'report_interval_s' has the wrong type") != std::string::npos);
  j = base();
  CHECK(parse_server_config(j).report_interval_s == 10.0);
  j["report_interval_s"] = 0.5;
  CHECK(parse_server_config(j).report_interval_s == 0.5);
}

TEST_CASE("server config: to_json() parses back (a checkpoint's state.json config, policy_order included)") {
  auto j = base();
  j["policies"]["q"] = j["policies"]["p"];
  j["policies"]["q"]["scripted"] = "linear";
  j["policy_mapping"] = {{"a", "p"}, {"b", "q"}};
  const auto c = parse_server_config(j);
  const auto back = parse_server_config(c.to_json());
  CHECK(back.to_json() == c.to_json());
  REQUIRE(back.policies.size() == 2);
  CHECK(back.policies[1].script == tandem::core::ScriptKind::kLinear);
  CHECK(!back.is_trained("q"));
  CHECK(back.is_trained("p"));
}
