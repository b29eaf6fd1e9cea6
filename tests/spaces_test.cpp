#include "core/spaces.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

using nlohmann::json;
using tandem::core::Space;
using tandem::core::SpaceKind;

TEST_CASE("spaces: raw and preprocessed sizes") {
  CHECK(Space::box({4}).raw_size() == 4);
  CHECK(Space::box({4}).preprocessed_size() == 4);
  CHECK(Space::box({2, 3}).raw_size() == 6);
  CHECK(Space::discrete(5).raw_size() == 1);
  CHECK(Space::discrete(5).preprocessed_size() == 5);
  CHECK(Space::multi_discrete({3, 4}).raw_size() == 2);
  CHECK(Space::multi_discrete({3, 4}).preprocessed_size() == 7);
  CHECK_THROWS_AS(Space::discrete(0), std::invalid_argument);
  CHECK_THROWS_AS(Space::multi_discrete({}), std::invalid_argument);
}

TEST_CASE("spaces: one-hot preprocessing") {
  SUBCASE("Box is copied") {
    const std::vector<float> raw{1.f, -2.f, 3.5f};
    std::vector<float> out(3, 9.f);
    Space::box({3}).preprocess(raw, out.data());
    CHECK(out == raw);
  }
  SUBCASE("Discrete") {
    std::vector<float> out(5, 9.f);
    const std::vector<float> raw{2.f};
    Space::discrete(5).preprocess(raw, out.data());
    CHECK(out == std::vector<float>{0, 0, 1, 0, 0});
  }
  SUBCASE("MultiDiscrete: concatenated one-hots") {
    std::vector<float> out(7, 9.f);
    const std::vector<float> raw{1.f, 3.f};
    Space::multi_discrete({3, 4}).preprocess(raw, out.data());
    CHECK(out == std::vector<float>{0, 1, 0, 0, 0, 0, 1});
  }
}

TEST_CASE("spaces: validation messages") {
  const auto box = Space::box({4});
  const std::vector<float> ok{0, 1, 2, 3}, short_v{0, 1, 2};
  CHECK(box.validate(ok).empty());
  const auto size_msg = box.validate(short_v);
  CHECK(size_msg.find("expected 4") != std::string::npos);
  CHECK(size_msg.find("got 3") != std::string::npos);
  CHECK(size_msg.find("Box(4,)") != std::string::npos);

  const std::vector<float> nan_v{0, std::numeric_limits<float>::quiet_NaN(), 2, 3};
  const auto nan_msg = box.validate(nan_v);
  CHECK(nan_msg.find("element 1") != std::string::npos);
  CHECK(nan_msg.find("NaN") != std::string::npos);
  const std::vector<float> inf_v{0, 1, std::numeric_limits<float>::infinity(), 3};
  CHECK(box.validate(inf_v).find("infinite") != std::string::npos);

  const auto d = Space::discrete(5);
  CHECK(d.validate(std::vector<float>{4.f}).empty());
  const auto range_msg = d.validate(std::vector<float>{5.f});
  CHECK(range_msg.find("[0, 5)") != std::string::npos);
  CHECK(range_msg.find("got 5") != std::string::npos);
  CHECK_FALSE(d.validate(std::vector<float>{-1.f}).empty());
  CHECK_FALSE(d.validate(std::vector<float>{1.5f}).empty());

  const auto md = Space::multi_discrete({3, 4});
  CHECK(md.validate(std::vector<float>{2.f, 3.f}).empty());
  const auto md_msg = md.validate(std::vector<float>{2.f, 4.f});
  CHECK(md_msg.find("element 1") != std::string::npos);
  CHECK(md_msg.find("[0, 4)") != std::string::npos);
  CHECK_FALSE(md.validate(std::vector<float>{1.f}).empty());
}

TEST_CASE("spaces: JSON round trip") {
  const std::vector<Space> spaces = {
      Space::box({4}),
      Space::box({2, 3}, -1.f, 1.f),
      Space::discrete(2),
      Space::multi_discrete({100, 100}),
  };
  for (const auto& s : spaces) {
    CAPTURE(s.describe());
    CHECK(Space::from_json(s.to_json()) == s);
    CHECK(Space::from_json(json::parse(s.to_json().dump())) == s);
  }
  const auto b =
      Space::from_json(json::parse(R"({"type":"box","shape":[2],"low":[-1,0],"high":1})"));
  CHECK(b.low == std::vector<float>{-1.f, 0.f});
  CHECK(b.high == std::vector<float>{1.f, 1.f});
  CHECK(Space::from_json(b.to_json()) == b);
  CHECK(Space::from_json(json::parse(R"({"type":"discrete","n":3})")) == Space::discrete(3));
  CHECK(Space::box({4}).describe() == "Box(4,)");
  CHECK(Space::box({2, 3}).describe() == "Box(2, 3)");
  CHECK(Space::discrete(2).describe() == "Discrete(2)");
  CHECK(Space::multi_discrete({100, 100}).describe() == "MultiDiscrete([100, 100])");
}

TEST_CASE("spaces: JSON rejection names the key") {
  auto message = [](const char* text) {
    try {
      Space::from_json(json::parse(text));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  CHECK(message(R"({"type":"graph"})").find("'type'") != std::string::npos);
  CHECK(message(R"({"n":3})").find("'type'") != std::string::npos);
  CHECK(message(R"({"type":"discrete"})").find("'n'") != std::string::npos);
  CHECK(message(R"({"type":"discrete","n":0})").find("'n'") != std::string::npos);
  CHECK(message(R"({"type":"discrete","n":2.5})").find("'n'") != std::string::npos);
  CHECK(message(R"({"type":"discrete","n":2,"shape":[1]})").find("unknown key 'shape'") !=
        std::string::npos);
  CHECK(message(R"({"type":"box"})").find("'shape'") != std::string::npos);
  CHECK(message(R"({"type":"box","shape":[0]})").find("'shape") != std::string::npos);
  CHECK(message(R"({"type":"box","shape":[2],"low":[0,0,0]})").find("'low'") != std::string::npos);
  CHECK(message(R"({"type":"box","shape":[1],"low":2,"high":1})").find("'low'") !=
        std::string::npos);
  CHECK(message(R"({"type":"multi_discrete","nvec":[]})").find("'nvec'") != std::string::npos);
  CHECK(message(R"({"type":"multi_discrete","nvec":[3,0]})").find("'nvec") != std::string::npos);
  CHECK(message(R"([1,2])").find("object") != std::string::npos);
}
