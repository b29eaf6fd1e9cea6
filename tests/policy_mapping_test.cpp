// The policy mapping (core/policy_mapping.h): exact ids, glob patterns in the written order,
// the list form, and the config file's written order kept by load_server_config.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/policy_mapping.h"
#include "core/policy_set.h"
#include "policy_server/server_config.h"
#include "support/server_process.h"

using tandem::core::PolicyMapping;

namespace {
std::string placed(const PolicyMapping& m, std::string_view agent) {
  const std::string* p = m.policy_for(agent);
  return p ? *p : "(none)";
}
}  // namespace

TEST_CASE("glob: '*' any run, '?' one character, the whole id") {
  CHECK(PolicyMapping::glob_match("*", ""));
  CHECK(PolicyMapping::glob_match("*", "anything"));
  CHECK(PolicyMapping::glob_match("*_high", "robot_1_high"));
  CHECK(PolicyMapping::glob_match("*_high", "_high"));
  CHECK_FALSE(PolicyMapping::glob_match("*_high", "robot_1_high2"));
  CHECK_FALSE(PolicyMapping::glob_match("*_high", "robot_1_low"));
  CHECK(PolicyMapping::glob_match("robot_?_low", "robot_7_low"));
  CHECK_FALSE(PolicyMapping::glob_match("robot_?_low", "robot_12_low"));
  CHECK(PolicyMapping::glob_match("robot_*_*", "robot_12_low"));
  CHECK(PolicyMapping::glob_match("a*b*c", "aXbYbZc"));
  CHECK_FALSE(PolicyMapping::glob_match("a*b*c", "aXbYbZ"));
  CHECK(PolicyMapping::glob_match("**a", "bba"));
  CHECK_FALSE(PolicyMapping::glob_match("[ab]", "a"));  // no character classes: '[' is literal
  CHECK(PolicyMapping::glob_match("[ab]", "[ab]"));
  // Worst case stays linear-ish: a long id against many stars answers at once.
  CHECK_FALSE(PolicyMapping::glob_match("*a*a*a*a*a*a*a*b", std::string(4000, 'a')));
}

TEST_CASE("exact ids win; then the first pattern in the written order; else unplaced") {
  PolicyMapping m;
  m.add("robot_*", "robots");
  m.add("*_high", "high");
  m.add("*_low", "low");
  m.add("robot_9_high", "special");
  CHECK(placed(m, "robot_1_high") == "robots");  // robot_* is written first
  CHECK(placed(m, "robot_9_high") == "special"); // an exact id beats every pattern
  CHECK(placed(m, "drone_high") == "high");
  CHECK(placed(m, "drone_low") == "low");
  CHECK(placed(m, "drone_mid") == "(none)");
  m.add("*", "default");
  CHECK(placed(m, "drone_mid") == "default");
  // A pattern given again keeps its place and takes the new policy.
  m.add("robot_*", "robots2");
  CHECK(m.rules().front().policy_id == "robots2");
  CHECK(placed(m, "robot_1_low") == "robots2");
}

TEST_CASE("JSON: object and list forms, order kept by the list, errors named") {
  const auto list = nlohmann::json::parse(R"([["z_*", "a"], ["*", "b"]])");
  const auto m = PolicyMapping::from_json(list);
  CHECK(m.to_json() == list);
  CHECK(placed(m, "z_1") == "a");
  CHECK(PolicyMapping::from_json(m.to_json()) == m);
  const auto obj = PolicyMapping::from_json(nlohmann::json::parse(R"({"x": "p", "*": "q"})"));
  CHECK(placed(obj, "x") == "p");
  CHECK(placed(obj, "y") == "q");
  auto bad = [](const char* text) {
    try {
      PolicyMapping::from_json(nlohmann::json::parse(text));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(bad(R"("*")").find("must be an object") != std::string::npos);
  CHECK(bad(R"([["a"]])").find("policy_mapping[0]") != std::string::npos);
  CHECK(bad(R"({"a": 3})").find("policy_mapping.a") != std::string::npos);
  CHECK(bad(R"({"": "p"})").find("1 to 256") != std::string::npos);
}

TEST_CASE("a config file's mapping keeps its written order (nlohmann::json would sort it)") {
  const std::string dir = tandem::test::results_path("policy_mapping_order");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/config.json";
  {
    // Sorted, "*_high" would come before "robot_*" and place robot_1_high on "high".
    std::ofstream(path) << R"({
      "algorithm": "ppo", "results_dir": ")" << dir << R"(/results",
      "policies": {
        "high": {"observation_space": {"type": "box", "shape": [3]}, "action_space": {"type": "discrete", "n": 4}},
        "low": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 8}}},
      // robots' agents first, then the level patterns
      "policy_mapping": {"robot_*": "low", "*_high": "high"}
    })";
  }
  const auto c = tandem::server::load_server_config(path);
  REQUIRE(c.policy_mapping.rules().size() == 2);
  CHECK(c.policy_mapping.rules()[0].pattern == "robot_*");
  const auto set = c.policy_set();
  CHECK(set.policies.at(static_cast<size_t>(set.policy_for_agent("robot_1_high"))).policy_id == "low");
  CHECK(set.policies.at(static_cast<size_t>(set.policy_for_agent("drone_high"))).policy_id == "high");
  CHECK(set.policy_for_agent("drone_low") == -1);
  // The written config (checkpoints, GetConfig) uses the list form, which reads back alike.
  const auto again = tandem::server::parse_server_config(c.to_json());
  CHECK(again.policy_mapping == c.policy_mapping);
  // A pattern naming a policy that is not hosted is refused, naming it.
  std::ofstream(path) << R"({"policies": {"p": {"observation_space": {"type": "box", "shape": [1]},
    "action_space": {"type": "discrete", "n": 2}}}, "policy_mapping": {"*_x": "nope"}})";
  CHECK_THROWS_WITH_AS(tandem::server::load_server_config(path),
                       doctest::Contains("'policy_mapping.*_x' names unknown policy 'nope'"), std::invalid_argument);
}

TEST_CASE("a config file nested absurdly deep is refused before a tree is built") {
  const std::string dir = tandem::test::results_path("policy_mapping_deep");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/config.json";
  {
    std::ofstream f(path);
    f << R"({"algorithm": "ppo", "x": )";
    for (int i = 0; i < 50000; ++i) f << "{\"a\": [";
    f << "1";
    for (int i = 0; i < 50000; ++i) f << "]}";
    f << "}";
  }
  CHECK_THROWS_WITH_AS(tandem::server::load_server_config(path), doctest::Contains("nested deeper than 64 levels"),
                       std::invalid_argument);
  // A syntax error still names itself.
  std::ofstream(path) << R"({"algorithm": "ppo",)";
  CHECK_THROWS_WITH_AS(tandem::server::load_server_config(path), doctest::Contains("is not valid JSON"),
                       std::invalid_argument);
}
