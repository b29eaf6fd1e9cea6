// The replica group at the algorithm level (algorithms/replica_group.h): ranks as threads of
// this process over a real TCPStore and Gloo on loopback. N ranks that each train on a part of
// a batch end with bit-identical weights, equal (within float tolerance) to one process
// trained on the whole batch; an idle rank adds nothing; a rank that goes away makes the
// others' next step fail with GroupError. The server-level group: replica_server_test.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "algorithms/policy.h"
#include "algorithms/replica_group.h"
#include "algorithms/sample_batch.h"
#include "support/free_port.h"
#include "support/sample_batches.h"

using namespace tandem;
using namespace tandem::algo;

namespace {

using test::free_port;

PolicySpec spec(const char* config) {
  PolicySpec s;
  s.policy_id = "p";
  s.observation_space = core::Space::box({3});
  s.action_space = core::Space::discrete(3);
  s.config.merge_json(nlohmann::json::parse(config));
  return s;
}

// 16 fragments of 4 steps from `model` (deterministic), rewards depending on the actions.
std::vector<Trajectory> fragments(const InferenceModel& model, uint64_t seed) {
  return test::make_fragments(model, seed, /*action_reward=*/true);
}

SampleBatch batch_of(const std::vector<Trajectory>& frags, size_t begin, size_t end, const PolicySpec& s) {
  SampleBatch b;
  b.obs_dim = 3;
  for (size_t i = begin; i < end; ++i) b.append(frags[i], s.config.gamma, s.config.lambda_, s.config.use_gae, s.config.use_critic);
  return b;
}

std::vector<float> weights_of(const Algorithm& a) {
  std::vector<float> w;
  for (const auto& t : *a.snapshot()->weights()) w.insert(w.end(), t.data.begin(), t.data.end());
  return w;
}

struct RankResult {
  std::vector<float> weights;
  TrainStats stats;
};

// `size` ranks as threads; rank r trains `iterations` times on frags[cuts[r], cuts[r + 1]).
std::vector<RankResult> train_group(const char* algorithm, const PolicySpec& s, const std::vector<Trajectory>& frags,
                                    const std::vector<size_t>& cuts, int iterations = 1) {
  const int size = static_cast<int>(cuts.size()) - 1;
  const std::string master = "127.0.0.1:" + std::to_string(free_port());
  std::vector<std::future<RankResult>> ranks;
  for (int r = 0; r < size; ++r)
    ranks.push_back(std::async(std::launch::async, [&, r] {
      GroupConfig gc;
      gc.rank = r;
      gc.size = size;
      gc.master = master;
      gc.host = "127.0.0.1";
      gc.timeout_s = 20;
      gc.join_timeout_s = 20;
      auto group = ReplicaGroup::join(gc);
      auto a = make_algorithm(algorithm, s, 7);  // the same seed: the same initial weights
      a->join_group(group.get());
      RankResult res;
      const auto part = batch_of(frags, cuts[static_cast<size_t>(r)], cuts[static_cast<size_t>(r) + 1], s);
      for (int i = 0; i < iterations; ++i) res.stats = a->train(part, 0);
      res.weights = weights_of(*a);
      group->barrier("done");  // rank 0 hosts the store: nobody leaves before all are done
      return res;
    }));
  std::vector<RankResult> out;
  for (auto& f : ranks) out.push_back(f.get());
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

void check_like_one_process(const char* algorithm, const char* config, const std::vector<size_t>& cuts) {
  const auto s = spec(config);
  auto single = make_algorithm(algorithm, s, 7);
  const auto frags = fragments(*single->snapshot(), 11);
  const auto initial = weights_of(*single);
  const auto whole = batch_of(frags, 0, frags.size(), s);
  const auto one = single->train(whole, 0);
  const auto w1 = weights_of(*single);
  const auto group = train_group(algorithm, s, frags, cuts);
  for (size_t r = 1; r < group.size(); ++r)
    CHECK_MESSAGE(group[r].weights == group[0].weights, "rank " << r << "'s weights differ from rank 0's");
  // The step moved the weights, and the group moved them as one process did.
  CHECK(max_abs_diff(initial, w1) > 1e-4);
  CHECK(max_abs_diff(group[0].weights, w1) < 2e-6);
  for (const char* k : {"policy_loss", "vf_loss", "grad_gnorm", "entropy", "total_loss"})
    CHECK_MESSAGE(std::abs(group[0].stats.at(k) - one.at(k)) <= 1e-4 * (1 + std::abs(one.at(k))), k);
  CHECK(group[0].stats.at("group_rows") == doctest::Approx(64));
  CHECK(group[0].stats.at("num_sgd_steps") == one.at("num_sgd_steps"));
}

}  // namespace

TEST_CASE("a group of 2 PPO ranks trains like one process on the concatenated batch") {
  // One minibatch per epoch (sgd_minibatch_size >= 64), several epochs: Adam's later steps
  // see the gradients' magnitudes, so a wrongly weighted average would show.
  check_like_one_process("ppo", R"({"num_sgd_iter": 4, "sgd_minibatch_size": 128, "lr": 0.01, "grad_clip": 0,
                                    "model": {"fcnet_hiddens": [8, 8]}})", {0, 10, 16});
}

TEST_CASE("a group of 3 PPO ranks with an idle one (no rows) trains like one process") {
  check_like_one_process("ppo", R"({"num_sgd_iter": 3, "sgd_minibatch_size": 128, "lr": 0.01, "grad_clip": 0.5,
                                    "kl_coeff": 0.2, "model": {"fcnet_hiddens": [8, 8]}})", {0, 3, 16, 16});
}

TEST_CASE("a group of 2 A2C ranks takes the step one process takes") {
  check_like_one_process("a2c", R"({"lr": 0.01, "grad_clip": 0, "model": {"fcnet_hiddens": [8, 8]}})", {0, 7, 16});
}

TEST_CASE("with several minibatches and iterations the ranks' weights stay bit-identical") {
  const auto s = spec(R"({"num_sgd_iter": 5, "sgd_minibatch_size": 16, "lr": 0.005, "model": {"fcnet_hiddens": [8, 8]}})");
  auto first = make_algorithm("ppo", s, 7);
  const auto frags = fragments(*first->snapshot(), 3);
  const auto group = train_group("ppo", s, frags, {0, 5, 11, 16}, 3);
  CHECK(group[1].weights == group[0].weights);
  CHECK(group[2].weights == group[0].weights);
  CHECK(max_abs_diff(group[0].weights, weights_of(*first)) > 1e-4);
  CHECK(group[0].stats.at("num_sgd_steps") == 5 * 4);  // 64 rows / 16 per minibatch, 5 epochs
}

TEST_CASE("a rank that goes away makes the others' next step fail with GroupError, at once") {
  const auto s = spec(R"({"model": {"fcnet_hiddens": [8]}})");
  const std::string master = "127.0.0.1:" + std::to_string(free_port());
  auto make = [&](int r) {
    GroupConfig gc;
    gc.rank = r;
    gc.size = 2;
    gc.master = master;
    gc.host = "127.0.0.1";
    gc.timeout_s = 30;
    gc.join_timeout_s = 20;
    return ReplicaGroup::join(gc);
  };
  auto r1 = std::async(std::launch::async, [&] { return make(1); });
  auto g0 = make(0);
  auto g1 = r1.get();
  auto a = make_algorithm("ppo", s, 7);
  a->join_group(g0.get());
  const auto frags = fragments(*a->snapshot(), 5);
  g1->abort();  // rank 1 goes away
  CHECK(g1->broken());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(a->train(batch_of(frags, 0, 16, s), 0), GroupError);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));  // not the 30 s timeout
  CHECK(g0->broken());
  CHECK_THROWS_AS(a->train(batch_of(frags, 0, 16, s), 0), GroupError);  // broken for good
}

TEST_CASE("join refuses a bad group config and says why") {
  GroupConfig gc;
  gc.size = 2;
  gc.rank = 2;
  gc.master = "127.0.0.1:1";
  CHECK_THROWS_WITH_AS(ReplicaGroup::join(gc), doctest::Contains("group_rank 2 is outside 0..1"), std::invalid_argument);
  gc.rank = 0;
  gc.master = "nohostport";
  CHECK_THROWS_WITH_AS(ReplicaGroup::join(gc), doctest::Contains("HOST:PORT"), std::invalid_argument);
  gc.rank = 1;  // a rank that waits for a master who never comes
  gc.master = "127.0.0.1:" + std::to_string(free_port());
  gc.join_timeout_s = 1;
  CHECK_THROWS_WITH_AS(ReplicaGroup::join(gc), doctest::Contains("could not reach rank 0's store"), GroupError);
  gc.master = "nosuchhost.invalid:2000";  // refused at once, not after the join timeout
  gc.join_timeout_s = 60;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(ReplicaGroup::join(gc), doctest::Contains("cannot resolve the master host"), GroupError);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  gc.master = "[::1]:2000";
  CHECK_THROWS_WITH_AS(ReplicaGroup::join(gc), doctest::Contains("IPv6"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(make_algorithm("marwil", spec("{}"), 1)->join_group(nullptr),
                       doctest::Contains("cannot train in a replica group"), std::invalid_argument);
}
