#include "core/algo_config.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

using nlohmann::json;
using tandem::core::AlgoConfig;

namespace {

// The message of the std::invalid_argument that merging `text` throws ("" if none).
std::string merge_error(const char* text) {
  AlgoConfig c;
  try {
    c.merge_json(json::parse(text));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("config: RLlib names are merged") {
  AlgoConfig c;
  c.merge_json(json::parse(R"({
    "gamma": 0.95, "lr": 3e-4, "lambda": 0.9, "train_batch_size": 2048,
    "sgd_minibatch_size": 256, "num_sgd_iter": 10, "clip_param": 0.2, "grad_clip": null,
    "entropy_coeff": 0.01, "optimizer": "rmsprop",
    "model": {"fcnet_hiddens": [64, 64], "fcnet_activation": "relu", "vf_share_layers": true}
  })"));
  CHECK(c.gamma == 0.95);
  CHECK(c.lr == 3e-4);
  CHECK(c.lambda_ == 0.9);
  CHECK(c.train_batch_size == 2048);
  CHECK(c.sgd_minibatch_size == 256);
  CHECK(c.num_sgd_iter == 10);
  CHECK(c.grad_clip == 0.0);
  CHECK(c.optimizer == "rmsprop");
  CHECK(c.model.fcnet_hiddens == std::vector<int64_t>{64, 64});
  CHECK(c.model.fcnet_activation == "relu");
  CHECK(c.model.vf_share_layers);
  CHECK(c.model.free_log_std);  // untouched keys keep their values

  AlgoConfig round;
  round.merge_json(c.to_json());
  CHECK(round.to_json() == c.to_json());
}

TEST_CASE("config: unknown keys are rejected with a hint") {
  const auto m = merge_error(R"({"lamda": 0.9})");
  CHECK(contains(m, "unknown key 'lamda'"));
  CHECK(contains(m, "did you mean 'lambda'"));
  CHECK(contains(merge_error(R"({"lambda_": 0.9})"), "did you mean 'lambda'"));
  CHECK(contains(merge_error(R"({"num_workers": 2})"), "unknown key 'num_workers'"));
  const auto mm = merge_error(R"({"model": {"fcnet_hidden": [8]}})");
  CHECK(contains(mm, "unknown key 'fcnet_hidden'"));
  CHECK(contains(mm, "did you mean 'fcnet_hiddens'"));
}

TEST_CASE("config: bad values are rejected naming key and value") {
  CHECK(merge_error(R"({"lr": -1})") == "'lr' must be > 0, got -1");
  CHECK(contains(merge_error(R"({"gamma": 1.5})"), "'gamma'"));
  CHECK(contains(merge_error(R"({"gamma": 1.5})"), "1.5"));
  CHECK(contains(merge_error(R"({"lambda": -0.1})"), "'lambda'"));
  CHECK(contains(merge_error(R"({"train_batch_size": "big"})"), "'train_batch_size'"));
  CHECK(contains(merge_error(R"({"train_batch_size": 0})"), "'train_batch_size'"));
  CHECK(contains(merge_error(R"({"num_sgd_iter": 2.5})"), "'num_sgd_iter' must be an integer"));
  CHECK(contains(merge_error(R"({"use_gae": 1})"), "'use_gae'"));
  CHECK(contains(merge_error(R"({"clip_param": 0})"), "'clip_param'"));
  CHECK(contains(merge_error(R"({"entropy_coeff": -0.01})"), "'entropy_coeff'"));
  CHECK(contains(merge_error(R"({"optimizer": "sgd"})"), "'optimizer'"));
  CHECK(contains(merge_error(R"({"optimizer": "sgd"})"), "sgd"));
  CHECK(contains(merge_error(R"({"lr_schedule": [[0, 1e-3], [10]]})"), "'lr_schedule'"));
  CHECK(contains(merge_error(R"({"lr_schedule": [[100, 1e-3], [10, 1e-4]]})"), "'lr_schedule'"));
  CHECK(contains(merge_error(R"({"model": {"fcnet_hiddens": [64, 0]}})"), "fcnet_hiddens"));
  CHECK(contains(merge_error(R"({"model": {"fcnet_activation": "sigmoid"}})"), "fcnet_activation"));
  CHECK(contains(merge_error(R"({"model": 3})"), "'model'"));
  CHECK(contains(merge_error(R"([1])"), "object"));
}

TEST_CASE("config: cross-field checks") {
  const auto m = merge_error(R"({"train_batch_size": 100, "sgd_minibatch_size": 128})");
  CHECK(contains(m, "'sgd_minibatch_size' (128)"));
  CHECK(contains(m, "'train_batch_size' (100)"));
  CHECK(contains(merge_error(R"({"use_critic": false})"), "'use_gae'"));
  CHECK(merge_error(R"({"use_critic": false, "use_gae": false})").empty());
}

TEST_CASE("config: a rejected merge leaves the config untouched") {
  AlgoConfig c;
  const auto before = c.to_json();
  CHECK_THROWS_AS(c.merge_json(json::parse(R"({"lr": 0.1, "gamma": 7})")), std::invalid_argument);
  CHECK(c.to_json() == before);
}

TEST_CASE("config: lr_at follows lr_schedule") {
  AlgoConfig c;
  CHECK(c.lr_at(12345) == c.lr);
  c.merge_json(json::parse(R"({"lr_schedule": [[0, 1e-3], [1000, 1e-4]]})"));
  CHECK(c.lr_at(0) == doctest::Approx(1e-3));
  CHECK(c.lr_at(500) == doctest::Approx(5.5e-4));
  CHECK(c.lr_at(1000) == doctest::Approx(1e-4));
  CHECK(c.lr_at(5000) == doctest::Approx(1e-4));
}
