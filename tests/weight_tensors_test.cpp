// Weights as named float32 tensors: the split into frames, the checks of the parts a client
// puts together, and the model a client rebuilds from them (core/weight_tensors.h,
// core/model_description.h, load_inference_model).
#include <doctest/doctest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "algorithms/policy.h"
#include "core/model_description.h"
#include "core/weight_tensors.h"
#include "support/policy_specs.h"

using namespace tandem;

namespace {

core::WeightTensors sample_tensors() {
  core::WeightTensors t{{"w", {3, 4}, {}}, {"b", {3}, {0.5f, -1.f, 2.f}}, {"empty", {0}, {}}, {"s", {}, {7.f}}};
  for (int i = 0; i < 12; ++i) t[0].data.push_back(static_cast<float>(i));
  return t;
}

core::Status assemble(const std::vector<core::Weights>& chunks, core::WeightAssembler& a) {
  for (const auto& c : chunks)
    if (auto st = a.add(c); !st.ok()) return st;
  return {};
}

}  // namespace

TEST_CASE("split_weights cuts tensors into parts that put together give the same tensors") {
  const auto tensors = sample_tensors();
  for (size_t max_floats : {1, 2, 5, 16, 1000}) {
    auto chunks = core::split_weights(core::whole_weights("p", 3, tensors), max_floats);
    for (const auto& c : chunks) {
      size_t n = 0;
      for (const auto& p : c.tensors) n += p.data.size();
      CHECK(n <= max_floats);
      CHECK(c.num_chunks == static_cast<int32_t>(chunks.size()));
    }
    core::WeightAssembler a;
    REQUIRE(assemble(chunks, a).ok());
    CHECK(a.complete());
    CHECK(a.version() == 3);
    CHECK(a.take() == tensors);
  }
  // "current" (no tensors): one empty chunk.
  core::Weights current;
  current.policy_id = "p";
  auto none = core::split_weights(current, 100);
  REQUIRE(none.size() == 1);
  core::WeightAssembler a;
  CHECK(a.add(none[0]).ok());
  CHECK(a.complete());
}

TEST_CASE("the assembler refuses chunks and parts that do not fit together") {
  const auto chunks = core::split_weights(core::whole_weights("p", 3, sample_tensors()), 5);
  REQUIRE(chunks.size() >= 3);
  auto refused = [](std::vector<core::Weights> cs, const std::string& words) {
    core::WeightAssembler a;
    const auto st = assemble(cs, a);
    CHECK(!st.ok());
    CHECK_MESSAGE(st.message.find(words) != std::string::npos, st.message);
    CHECK(!a.complete());
  };
  SUBCASE("out of order") { refused({chunks[0], chunks[2]}, "expected 1"); }
  SUBCASE("another set") {
    auto c = chunks;
    c[1].version = 4;
    refused(c, "another weight set");
  }
  SUBCASE("a part that skips") {
    auto c = chunks;
    c[1].tensors[0].offset += 1;
    refused(c, "offset");
  }
  SUBCASE("a part that overruns its tensor") {
    core::Weights w{"p", 1, 0, 1, {{"x", {2}, 0, {1.f, 2.f, 3.f}}}};
    refused({w}, "more than its 2 elements");
  }
  SUBCASE("a tensor cut short") {
    core::Weights w{"p", 1, 0, 1, {{"x", {4}, 0, {1.f, 2.f}}, {"y", {1}, 0, {1.f}}}};
    refused({w}, "ends before");
    core::Weights last{"p", 1, 0, 1, {{"x", {4}, 0, {1.f, 2.f}}}};
    refused({last}, "ends before");
  }
  SUBCASE("a name twice") {
    core::Weights w{"p", 1, 0, 1, {{"x", {1}, 0, {1.f}}, {"x", {1}, 0, {1.f}}}};
    refused({w}, "twice");
  }
  SUBCASE("bad shapes and counts") {
    refused({core::Weights{"p", 1, 0, 1, {{"x", {-1}, 0, {}}}}}, "bad shape");
    refused({core::Weights{"p", 1, 0, 1, {{"x", {1 << 20, 1 << 20}, 0, {}}}}}, "bad shape");
    refused({core::Weights{"p", 1, 0, 1, {{"", {1}, 0, {1.f}}}}}, "no name");
    refused({core::Weights{"p", 1, 0, 0, {}}}, "num_chunks");
    refused({core::Weights{"p", 1, 0, 1 << 20, {}}}, "num_chunks");
  }
  SUBCASE("more chunks than announced") {
    auto extra = chunks.back();
    extra.chunk_index = static_cast<int32_t>(chunks.size());  // the next index, beyond num_chunks
    auto all = chunks;
    all.push_back(extra);
    refused(all, "more chunks than num_chunks");
  }
}

TEST_CASE("the model's tensors are the ones GetConfig describes, and rebuild the same model") {
  const std::vector<core::PolicySpec> specs{
      test::policy_spec("cat", core::Space::box({4}), core::Space::discrete(3), R"({"model": {"fcnet_hiddens": [8, 6]}})"),
      test::policy_spec("shared", core::Space::discrete(5), core::Space::discrete(2),
                        R"({"model": {"fcnet_hiddens": [7], "vf_share_layers": true, "fcnet_activation": "relu"}})"),
      test::policy_spec("multi", core::Space::multi_discrete({3, 4}), core::Space::multi_discrete({2, 3}),
                        R"({"model": {"fcnet_hiddens": [5, 5], "fcnet_activation": "elu"}})"),
      test::policy_spec("gauss", core::Space::box({3}), core::Space::box({2}, -1, 1), R"({"model": {"fcnet_hiddens": [6]}})"),
      test::policy_spec("gauss_out", core::Space::box({3}), core::Space::box({2}, -1, 1),
                        R"({"model": {"fcnet_hiddens": [], "free_log_std": false}})"),
  };
  for (const auto& spec : specs) {
    CAPTURE(spec.policy_id);
    auto algo = algo::make_algorithm("ppo", spec, 11);
    const auto model = algo->snapshot();
    const auto tensors = model->weights();
    const auto expected = core::model_tensors(spec);
    REQUIRE(tensors->size() == expected.size());
    const auto described = core::describe_model(spec).at("tensors");
    for (size_t i = 0; i < expected.size(); ++i) {
      CHECK((*tensors)[i].name == expected[i].name);
      CHECK((*tensors)[i].shape == expected[i].shape);
      CHECK(described.at(i).at("name") == expected[i].name);
      CHECK(described.at(i).at("shape").get<std::vector<int64_t>>() == expected[i].shape);
    }
    auto copy = algo::load_inference_model(spec, *tensors, 9);
    CHECK(copy->version() == 9);
    CHECK(*copy->weights() == *tensors);
    std::vector<float> obs(static_cast<size_t>(spec.observation_space.preprocessed_size() * 3));
    for (size_t i = 0; i < obs.size(); ++i) obs[i] = static_cast<float>(i % 2);
    std::mt19937_64 r1(5), r2(5);
    std::vector<algo::ActionResult> a, b;
    model->compute_actions(obs, 3, {}, {}, r1, a);
    copy->compute_actions(obs, 3, {}, {}, r2, b);
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].dist_inputs == b[i].dist_inputs);
      CHECK(a[i].vf_pred == b[i].vf_pred);
      CHECK(a[i].discrete == b[i].discrete);
      CHECK(a[i].continuous == b[i].continuous);
    }
    // Missing, misshapen and extra tensors are refused by name.
    auto missing = *tensors;
    missing.pop_back();
    CHECK_THROWS_AS(algo::load_inference_model(spec, missing, 1), std::invalid_argument);
    auto misshapen = *tensors;
    misshapen[0].shape.back() += 1;
    misshapen[0].data.resize(static_cast<size_t>(core::num_elements(misshapen[0].shape)));
    CHECK_THROWS_AS(algo::load_inference_model(spec, misshapen, 1), std::invalid_argument);
    auto renamed = *tensors;
    renamed[0].name = "other";
    CHECK_THROWS_WITH_AS(algo::load_inference_model(spec, renamed, 1), doctest::Contains(expected[0].name.c_str()),
                         std::invalid_argument);
  }
}
