// Dict and Tuple observation spaces (core/spaces.h, core/composite_space.cpp) and named
// components (core/named_obs.h).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/algo_config.h"
#include "core/named_obs.h"
#include "core/policy_set.h"
#include "core/spaces.h"

using nlohmann::json;
using tandem::core::ErrorCode;
using tandem::core::NamedObs;
using tandem::core::Space;
using tandem::core::SpaceKind;

namespace {

// The high-level observation of the chicken yard (issue 15), written in unsorted order.
Space yard() {
  return Space::from_json(json::parse(R"({"type": "dict", "spaces": {
      "robot_position": {"type": "box", "shape": [2], "low": 0, "high": 1},
      "chicken_oceans": {"type": "box", "shape": [3, 2], "low": -1, "high": 1},
      "target": {"type": "discrete", "n": 3},
      "moves": {"type": "multi_discrete", "nvec": [2, 3]}}})"));
}

bool throws_naming(const std::string& text, const std::string& needle) {
  try {
    Space::from_json(json::parse(text));
  } catch (const std::invalid_argument& e) {
    INFO(e.what());
    return std::string(e.what()).find(needle) != std::string::npos;
  }
  return false;
}

}  // namespace

TEST_CASE("composite spaces: sizes, sorted order, describe") {
  const Space s = yard();
  CHECK(s.kind == SpaceKind::Dict);
  CHECK(s.keys == std::vector<std::string>{"chicken_oceans", "moves", "robot_position", "target"});
  CHECK(s.raw_size() == 6 + 2 + 2 + 1);
  CHECK(s.preprocessed_size() == 6 + 5 + 2 + 3);
  CHECK(s.describe() ==
        "Dict(chicken_oceans: Box(3, 2), moves: MultiDiscrete([2, 3]), robot_position: Box(2,), target: Discrete(3))");
  const Space t = Space::tuple({Space::box({2}), Space::discrete(3)});
  CHECK(t.raw_size() == 3);
  CHECK(t.preprocessed_size() == 5);
  CHECK(t.describe() == "Tuple(Box(2,), Discrete(3))");
  // The factory sorts as well.
  const Space d = Space::dict({{"b", Space::discrete(2)}, {"a", Space::box({1})}});
  CHECK(d.keys == std::vector<std::string>{"a", "b"});
}

TEST_CASE("composite spaces: preprocessing concatenates in sorted order, one-hot inside") {
  const Space s = yard();
  // chicken_oceans (6), moves (2), robot_position (2), target (1)
  const std::vector<float> raw{0.5f, -0.5f, 1.f, -1.f, 0.f, 0.25f, 1.f, 2.f, 0.1f, 0.9f, 2.f};
  CHECK(s.validate(raw).empty());
  std::vector<float> out(static_cast<size_t>(s.preprocessed_size()));
  s.preprocess(raw, out.data(), 0.75f);  // the clip applies to Box components only
  const std::vector<float> want{0.5f, -0.5f, 0.75f, -0.75f, 0.f, 0.25f,  // oceans, clipped
                                0.f,  1.f,   0.f,   0.f,    1.f,          // moves: one-hot 1 of 2, 2 of 3
                                0.1f, 0.75f,                              // robot_position, clipped
                                0.f,  0.f,   1.f};                        // target: one-hot 2 of 3
  CHECK(out == want);
}

TEST_CASE("composite spaces: nested Dict and Tuple, depth-first") {
  const Space s = Space::from_json(json::parse(R"({"type": "dict", "spaces": {
      "z": {"type": "discrete", "n": 2},
      "a": {"type": "dict", "spaces": {"y": {"type": "box", "shape": [1], "low": 0, "high": 1},
                                       "x": {"type": "discrete", "n": 3}}},
      "t": {"type": "tuple", "spaces": [{"type": "box", "shape": [2], "low": 0, "high": 1},
                                        {"type": "discrete", "n": 2}]}}})"));
  CHECK(s.describe() == "Dict(a: Dict(x: Discrete(3), y: Box(1,)), t: Tuple(Box(2,), Discrete(2)), z: Discrete(2))");
  CHECK(s.raw_size() == 1 + 1 + 2 + 1 + 1);
  CHECK(s.preprocessed_size() == 3 + 1 + 2 + 2 + 2);
  // a.x = 2, a.y = 0.5, t[0] = (0.1, 0.2), t[1] = 1, z = 0
  const std::vector<float> raw{2.f, 0.5f, 0.1f, 0.2f, 1.f, 0.f};
  std::vector<float> out(10);
  s.preprocess(raw, out.data());
  CHECK(out == std::vector<float>{0, 0, 1, 0.5f, 0.1f, 0.2f, 0, 1, 1, 0});
  // validate names the nested path
  CHECK(s.validate(std::vector<float>{2.f, 1.5f, 0.1f, 0.2f, 1.f, 0.f}).find("component 'a.y'") == 0);
  CHECK(s.validate(std::vector<float>{2.f, 0.5f, 0.1f, 0.2f, 2.f, 0.f}).find("component 't[1]'") == 0);
  CHECK(s.validate(std::vector<float>{3.f, 0.5f, 0.1f, 0.2f, 1.f, 0.f}).find("component 'a.x'") == 0);
}

TEST_CASE("composite spaces: validate names the component") {
  const Space s = yard();
  std::vector<float> raw{0.5f, -0.5f, 1.f, -1.f, 0.f, 0.25f, 1.f, 2.f, 0.1f, 1.7f, 2.f};
  const auto why = s.validate(raw);
  INFO(why);
  CHECK(why.find("component 'robot_position'") == 0);
  CHECK(why.find("element 1") != std::string::npos);
  CHECK(why.find("1.7") != std::string::npos);
  raw[9] = 0.5f;
  raw[10] = 3.f;
  CHECK(s.validate(raw).find("component 'target'") == 0);
  raw[10] = 1.f;
  raw[6] = std::nanf("");
  CHECK(s.validate(raw).find("component 'moves'") == 0);
  CHECK(s.validate(std::vector<float>(3, 0.f)).find("expected 11 values") == 0);
}

TEST_CASE("composite spaces: JSON round trip and bad JSON") {
  const Space s = yard();
  CHECK(Space::from_json(s.to_json()) == s);
  CHECK(s.to_json()["spaces"]["robot_position"]["high"] == 1.0);
  const Space t = Space::tuple({Space::box({2}, 0.f, 1.f), Space::multi_discrete({2, 2}), s});
  CHECK(Space::from_json(t.to_json()) == t);
  CHECK(t.to_json()["type"] == "tuple");

  CHECK(throws_naming(R"({"type": "dict", "spaces": {}})", "must not be empty"));
  CHECK(throws_naming(R"({"type": "tuple", "spaces": []})", "must not be empty"));
  CHECK(throws_naming(R"({"type": "dict"})", "'spaces'"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": [{"type": "discrete", "n": 2}]})", "'spaces' of a dict"));
  CHECK(throws_naming(R"({"type": "tuple", "spaces": {"a": {"type": "discrete", "n": 2}}})", "'spaces' of a tuple"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a": {"type": "discrete", "n": 0}}})", "spaces.a"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a": {"type": "dict", "spaces": {"b": {"type": "box"}}}}})",
                      "spaces.b"));
  CHECK(throws_naming(R"({"type": "tuple", "spaces": [{"type": "discrete", "n": 2}, 5]})", "spaces[1]"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a.b": {"type": "discrete", "n": 2}}})", "'a.b'"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a": {"type": "discrete", "n": 2}}, "x": 1})", "'x'"));
  // Depth limit
  std::string deep = R"({"type": "discrete", "n": 2})";
  for (int i = 0; i < tandem::core::kMaxSpaceDepth + 1; ++i) deep = R"({"type": "tuple", "spaces": [)" + deep + "]}";
  CHECK(throws_naming(deep, "deeper than"));
  // Component limit
  json many = {{"type", "tuple"}, {"spaces", json::array()}};
  for (int i = 0; i < 1100; ++i) many["spaces"].push_back({{"type", "discrete"}, {"n", 2}});
  CHECK(throws_naming(many.dump(), "components"));
  // Size limits hold for every kind before anything is allocated or summed (no int64 overflow).
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a": {"type": "discrete", "n": 4611686018427387904},
                                                      "b": {"type": "discrete", "n": 4611686018427387904}}})",
                      "spaces.a"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a": {"type": "multi_discrete", "nvec": [4611686018427387904, 4611686018427387904]}}})",
                      "'nvec' sums above"));
  CHECK(throws_naming(R"({"type": "dict", "spaces": {"a": {"type": "box", "shape": [100000, 100000]}}})",
                      "a Box of more than"));
  CHECK(throws_naming(R"({"type": "box", "shape": [4294967296, 4294967296, 4]})", "a Box of more than"));
}

TEST_CASE("composite spaces: refused as an action space") {
  const json cfg = json::parse(R"({"policies": {"p": {
      "observation_space": {"type": "dict", "spaces": {"a": {"type": "discrete", "n": 2}}},
      "action_space": {"type": "tuple", "spaces": [{"type": "discrete", "n": 2}]}}}})");
  try {
    tandem::core::read_policies(cfg, tandem::core::AlgoConfig{});
    FAIL("accepted a Tuple action space");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("policies.p.action_space") != std::string::npos);
    CHECK(std::string(e.what()).find("not supported") != std::string::npos);
  }
}

TEST_CASE("named components: flatten_named") {
  const Space s = yard();
  NamedObs named{{"robot_position", {0.1f, 0.9f}},
                 {"chicken_oceans", {0.5f, -0.5f, 1.f, -1.f, 0.f, 0.25f}},
                 {"target", {2.f}},
                 {"moves", {1.f, 2.f}}};
  std::vector<float> out;
  REQUIRE(tandem::core::flatten_named(s, named, out).ok());
  CHECK(out == std::vector<float>{0.5f, -0.5f, 1.f, -1.f, 0.f, 0.25f, 1.f, 2.f, 0.1f, 0.9f, 2.f});

  auto fails = [&](NamedObs n, const std::string& needle) {
    const auto st = tandem::core::flatten_named(s, n, out);
    INFO(st.message);
    return st.code == ErrorCode::BadObservation && st.message.find(needle) != std::string::npos;
  };
  {
    auto n = named;
    n["robot_pos"] = {0.f, 0.f};
    CHECK(fails(n, "unknown component 'robot_pos'"));
  }
  {
    auto n = named;
    n.erase("target");
    CHECK(fails(n, "component 'target' (Discrete(3)) is missing"));
  }
  {
    auto n = named;
    n["robot_position"] = {0.f, 0.f, 0.f};
    CHECK(fails(n, "component 'robot_position' has 3 values, Box(2,) needs 2"));
  }
  CHECK(!tandem::core::flatten_named(Space::box({2}), {{"a", {1.f, 2.f}}}, out).ok());
  CHECK(tandem::core::flatten_named(Space::box({2}), {{"a", {1.f, 2.f}}}, out).message.find("Dict") !=
        std::string::npos);

  // Nested: by dotted path, or whole.
  const Space nested = Space::dict({{"outer", Space::dict({{"b", Space::discrete(2)}, {"a", Space::box({2})}})},
                                    {"t", Space::tuple({Space::discrete(3), Space::box({1})})}});
  REQUIRE(tandem::core::flatten_named(nested, {{"outer.a", {1.f, 2.f}}, {"outer.b", {1.f}}, {"t[0]", {2.f}}, {"t[1]", {0.5f}}},
                                      out)
              .ok());
  CHECK(out == std::vector<float>{1.f, 2.f, 1.f, 2.f, 0.5f});
  REQUIRE(tandem::core::flatten_named(nested, {{"outer", {1.f, 2.f, 1.f}}, {"t", {2.f, 0.5f}}}, out).ok());
  CHECK(out == std::vector<float>{1.f, 2.f, 1.f, 2.f, 0.5f});
  CHECK(tandem::core::flatten_named(nested, {{"outer.a", {1.f, 2.f}}, {"t", {2.f, 0.5f}}}, out).message.find(
            "'outer.b'") != std::string::npos);
}
