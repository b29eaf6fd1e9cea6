// The learner thread survives failing training steps: each failure is logged and counted,
// the published weights stay as they were, and only kMaxConsecutiveFailures failed
// iterations in a row stop the server (tandem-server then exits with code 3).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "policy_server/learner.h"
#include "policy_server/server_context.h"

using namespace tandem;

namespace {
// A real PPO whose train() throws for its first `failures` calls.
class FlakyAlgorithm final : public algo::Algorithm {
 public:
  FlakyAlgorithm(std::unique_ptr<algo::Algorithm> inner, int failures)
      : inner_(std::move(inner)), failures_(failures) {}
  const std::string& name() const override { return inner_->name(); }
  const algo::PolicySpec& spec() const override { return inner_->spec(); }
  algo::TrainStats train(const algo::SampleBatch& b, int64_t t) override {
    if (calls_++ < failures_) throw std::runtime_error("injected failure " + std::to_string(calls_));
    return inner_->train(b, t);
  }
  std::shared_ptr<const algo::InferenceModel> snapshot() const override { return inner_->snapshot(); }
  void save(const std::string& p) const override { inner_->save(p); }
  void load(const std::string& p) override { inner_->load(p); }

 private:
  std::unique_ptr<algo::Algorithm> inner_;
  int failures_, calls_ = 0;
};

server::ServerConfig config(const std::string& dir) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 1, "checkpoint_at_end": false,
    "config": {"train_batch_size": 8, "sgd_minibatch_size": 8, "num_sgd_iter": 1,
               "model": {"fcnet_hiddens": [4]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 2}}}
  })");
  j["results_dir"] = dir;
  return server::parse_server_config(j);
}

algo::Trajectory steps(int T) {
  algo::Trajectory t;
  t.obs_dim = 2;
  for (int i = 0; i < T; ++i) {
    t.obs.insert(t.obs.end(), {0.1f * i, 0.f});
    t.actions.push_back(i % 2);
    t.action_logp.push_back(-0.6931472f);
    t.vf_preds.push_back(0.f);
    t.dist_inputs.insert(t.dist_inputs.end(), {0.f, 0.f});
    t.rewards.push_back(1.f);
  }
  t.terminated = true;
  return t;
}

struct Rig {
  Rig(const std::string& dir, int failures) : ctx(config(dir), ioc) {
    const auto& spec = ctx.config.policies[0];
    ctx.policies.set_algorithm(0, std::make_unique<FlakyAlgorithm>(algo::make_algorithm("ppo", spec, 1), failures));
    learner = std::make_unique<server::Learner>(ctx, [this] { stopped = true; });
    learner->start();
  }
  // Feeds one train batch and waits until the learner has taken it.
  void feed() {
    ctx.samples.push(0, steps(8), {"ep", "agent0", 0, 0, false, {}});
    for (int i = 0; i < 500 && ctx.samples.steps_pending(0) > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the train call itself
  }
  boost::asio::io_context ioc;
  server::ServerContext ctx;
  std::atomic<bool> stopped{false};
  std::unique_ptr<server::Learner> learner;
};
}  // namespace

TEST_CASE("failed training steps are counted, weights kept, and training goes on") {
  Rig r("test_results/learner_failure_recover", /*failures=*/2);
  const auto v0 = r.ctx.policies.model(0)->version();
  r.feed();
  r.feed();
  for (int i = 0; i < 400 && r.ctx.stats.learner_errors.load() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(r.ctx.stats.learner_errors.load() == 2);
  CHECK(r.ctx.policies.model(0)->version() == v0);  // nothing published by a failed step
  CHECK(r.ctx.training_iteration.load() == 0);
  r.feed();  // the third call trains
  for (int i = 0; i < 200 && r.ctx.training_iteration.load() < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(r.ctx.training_iteration.load() == 1);
  CHECK(r.ctx.policies.model(0)->version() > v0);
  CHECK_FALSE(r.stopped.load());
  CHECK_FALSE(r.learner->gave_up());
  r.learner->stop();
}

TEST_CASE("five failed iterations in a row stop the server") {
  Rig r("test_results/learner_failure_give_up", /*failures=*/1000);
  for (int i = 0; i < server::Learner::kMaxConsecutiveFailures && !r.stopped; ++i) {
    r.feed();
    for (int k = 0; k < 400 && r.ctx.stats.learner_errors.load() < i + 1; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int i = 0; i < 200 && !r.stopped; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(r.stopped.load());
  CHECK(r.learner->gave_up());
  CHECK(r.ctx.stats.learner_errors.load() == server::Learner::kMaxConsecutiveFailures);
  r.learner->stop();
}
