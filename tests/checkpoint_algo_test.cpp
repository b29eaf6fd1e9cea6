#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "algorithms/policy.h"
#include "support/policy_specs.h"
#include "support/sample_batches.h"

using namespace tandem::algo;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("tandem_ckpt_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

PolicySpec ckpt_spec(const char* overrides) {
  return tandem::test::policy_spec("ckpt", Space::box({3}), Space::discrete(3), overrides);
}

void round_trip(const std::string& algo_name, const PolicySpec& spec) {
  const auto path_a = temp_path(algo_name + ".pt");
  auto a = make_algorithm(algo_name, spec, 7);
  const auto batch = tandem::test::make_batch(*a->snapshot(), spec, 99);
  a->train(batch, 64);
  a->save(path_a);

  // A fresh algorithm with another seed: different weights until it loads.
  auto b = make_algorithm(algo_name, spec, 12345);
  CHECK(b->snapshot()->serialize_weights() != a->snapshot()->serialize_weights());
  b->load(path_a);
  CHECK(b->snapshot()->version() == a->snapshot()->version());
  CHECK(b->snapshot()->serialize_weights() == a->snapshot()->serialize_weights());
  // Parameters, optimizer state and algorithm state, exactly: b saves the same bytes
  // (to the same path: the zip's record names derive from the file name).
  const auto bytes_a = read_bytes(path_a);
  b->save(path_a);
  CHECK(read_bytes(path_a) == bytes_a);

  // One more identical step on both: bit-identical results (rng state restored too).
  const auto sa = a->train(batch, 128);
  const auto sb = b->train(batch, 128);
  CHECK(sa == sb);
  CHECK(b->snapshot()->serialize_weights() == a->snapshot()->serialize_weights());
  a->save(path_a);
  const auto bytes_a2 = read_bytes(path_a);
  b->save(path_a);
  CHECK(read_bytes(path_a) == bytes_a2);
  CHECK(bytes_a2 != bytes_a);

  std::filesystem::remove(path_a);
}

}  // namespace

TEST_CASE("checkpoint: ppo restores bit for bit") {
  round_trip("ppo", ckpt_spec(R"({"train_batch_size": 64, "sgd_minibatch_size": 16,
                                  "num_sgd_iter": 3, "lr": 1e-3, "grad_clip": 0.5,
                                  "model": {"fcnet_hiddens": [16, 16]}})"));
}

TEST_CASE("checkpoint: a2c restores bit for bit (adam and rmsprop)") {
  round_trip("a2c", ckpt_spec(R"({"train_batch_size": 64, "sgd_minibatch_size": 64, "lr": 1e-3,
                                  "model": {"fcnet_hiddens": [16]}})"));
  round_trip("a2c", ckpt_spec(R"({"train_batch_size": 64, "sgd_minibatch_size": 64, "lr": 1e-3,
                                  "optimizer": "rmsprop", "model": {"fcnet_hiddens": [16]}})"));
}

TEST_CASE("checkpoint: mismatches are rejected and leave the algorithm intact") {
  const auto spec = ckpt_spec(R"({"train_batch_size": 64, "sgd_minibatch_size": 16,
                                  "model": {"fcnet_hiddens": [16]}})");
  const auto path = temp_path("mismatch.pt");
  auto ppo = make_algorithm("ppo", spec, 1);
  ppo->save(path);

  auto a2c = make_algorithm("a2c", spec, 1);
  CHECK_THROWS_AS(a2c->load(path), std::runtime_error);

  auto other_spec = spec;
  other_spec.config.model.fcnet_hiddens = {8};
  auto other = make_algorithm("ppo", other_spec, 1);
  const auto before = other->snapshot()->serialize_weights();
  CHECK_THROWS_AS(other->load(path), std::runtime_error);
  CHECK(other->snapshot()->serialize_weights() == before);

  CHECK_THROWS(ppo->load(temp_path("does_not_exist.pt")));
  std::filesystem::remove(path);
}
