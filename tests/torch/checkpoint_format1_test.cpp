// Checkpoints of format 1 (written before the flat parameters: the optimizer state is kept
// per model parameter tensor, "param<i>/exp_avg" ...) still load: the state is joined into
// the flat layout, and the restored algorithm trains on exactly as the one that saved it.
// The format-1 file is made from a current checkpoint by splitting its flat optimizer state
// per parameter tensor, as the old code wrote it.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>
#include <unistd.h>

#include "algorithms/policy.h"
#include "algorithms/torch/models.h"
#include "support/policy_specs.h"
#include "support/sample_batches.h"

using namespace tandem;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tandem_fmt1_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// Rewrites the checkpoint at `from` as format 1 at `to` (without its optimizer state when
// `drop_state`).
void write_format1(const core::PolicySpec& spec, const std::string& from, const std::string& to,
                   bool drop_state = false) {
  torch::serialize::InputArchive in;
  in.load_from(from);
  torch::serialize::OutputArchive out;
  for (const auto& key : in.keys()) {
    if (key == "format" || key == "model" || key == "optimizer") continue;
    torch::Tensor t;
    REQUIRE_MESSAGE(in.try_read(key, t), "checkpoint entry " << key << " is not a tensor");
    out.write(key, t);
  }
  out.write("format", torch::tensor(int64_t{1}));

  auto model = algo::make_model(spec, std::nullopt);
  torch::serialize::InputArchive model_in;
  in.read("model", model_in);
  model->load(model_in);
  torch::serialize::OutputArchive model_out;
  model->save(model_out);
  out.write("model", model_out);

  torch::serialize::InputArchive opt_in;
  in.read("optimizer", opt_in);
  torch::serialize::OutputArchive opt_out;
  torch::Tensor kind, step;
  opt_in.read("kind", kind);
  opt_out.write("kind", kind);
  REQUIRE(opt_in.try_read("param0/step", step));
  const auto params = model->parameters();
  REQUIRE(params.size() > 1);
  std::vector<std::string> names;
  if (!drop_state) names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "momentum_buffer", "grad_avg"};
  for (const auto& name : names) {
    torch::Tensor flat;
    if (!opt_in.try_read("param0/" + name, flat)) continue;
    int64_t at = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t n = params[i].numel();
      opt_out.write("param" + std::to_string(i) + "/" + name, flat.narrow(0, at, n).reshape(params[i].sizes()).clone());
      at += n;
    }
    REQUIRE(at == flat.numel());
  }
  if (!drop_state)
    for (size_t i = 0; i < params.size(); ++i) opt_out.write("param" + std::to_string(i) + "/step", step);
  out.write("optimizer", opt_out);
  out.save_to(to);
}

void loads_format1(const std::string& algo_name, const core::PolicySpec& spec) {
  CAPTURE(algo_name);
  const auto current = temp_path(algo_name + ".pt"), old = temp_path(algo_name + ".v1.pt");
  auto a = algo::make_algorithm(algo_name, spec, 7);
  const auto batch = test::make_batch(*a->snapshot(), spec, 99);
  a->train(batch, 64);  // an optimizer state to carry over
  a->save(current);
  write_format1(spec, current, old);

  auto b = algo::make_algorithm(algo_name, spec, 12345);
  b->load(old);
  CHECK(b->snapshot()->version() == a->snapshot()->version());
  CHECK(b->snapshot()->serialize_weights() == a->snapshot()->serialize_weights());
  // The joined optimizer state is the saved one: the next steps are bit-identical. A state
  // lost in the join (a restarted Adam) would step differently.
  for (int k = 0; k < 2; ++k) {
    const auto sa = a->train(batch, 128 + 64 * k);
    const auto sb = b->train(batch, 128 + 64 * k);
    CHECK(sa == sb);
    CHECK(b->snapshot()->serialize_weights() == a->snapshot()->serialize_weights());
  }
  // Without the optimizer state (a restarted optimizer) the same step differs: the checks
  // above see the state.
  const auto stateless = temp_path(algo_name + ".v1-nostate.pt");
  write_format1(spec, current, stateless, /*drop_state=*/true);
  auto c = algo::make_algorithm(algo_name, spec, 12345);
  c->load(stateless);
  auto d = algo::make_algorithm(algo_name, spec, 12345);
  d->load(old);
  c->train(batch, 64);
  d->train(batch, 64);
  CHECK(c->snapshot()->serialize_weights() != d->snapshot()->serialize_weights());
  std::filesystem::remove(stateless);
  std::filesystem::remove(current);
  std::filesystem::remove(old);
}

}  // namespace

TEST_CASE("a format-1 checkpoint (per-tensor optimizer state) loads and trains on bit for bit") {
  const char* ppo = R"({"train_batch_size": 64, "sgd_minibatch_size": 16, "num_sgd_iter": 3, "lr": 1e-3,
                        "grad_clip": 0.5, "model": {"fcnet_hiddens": [16, 16]}})";
  loads_format1("ppo", test::policy_spec("fmt1", core::Space::box({3}), core::Space::discrete(3), ppo));
  const char* a2c_rms = R"({"train_batch_size": 64, "sgd_minibatch_size": 64, "lr": 1e-3, "optimizer": "rmsprop",
                            "model": {"fcnet_hiddens": [16]}})";
  loads_format1("a2c", test::policy_spec("fmt1", core::Space::box({3}), core::Space::discrete(3), a2c_rms));
}
