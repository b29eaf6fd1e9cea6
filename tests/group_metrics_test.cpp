// Rank 0's row of a replica group (policy_server/group_metrics.h): counters summed, the
// episode window over the group's newest episodes (an idle rank's old episodes age out as
// one server's would), per-iteration metrics weighted, and the message round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "policy_server/group_metrics.h"

using namespace tandem::server;

namespace {
RankIteration part(int64_t steps, int episodes, double reward, int64_t passes, double batch) {
  RankIteration it;
  it.metrics.timesteps_total = steps;
  it.metrics.agent_timesteps_total = steps;
  it.metrics.episodes_total = episodes;
  it.metrics.episodes_this_iter = episodes;
  for (int e = 0; e < episodes; ++e) {
    EpisodeSummary s;
    s.reward = reward;
    s.length = static_cast<int64_t>(reward);
    s.policy_rewards["p"] = reward;
    it.metrics.new_episodes.push_back(s);
  }
  it.metrics.inference_passes = passes;
  it.metrics.mean_inference_batch = batch;
  it.trained_steps = steps;
  it.bad_batches_skipped = 1;
  it.bad_sgd_steps_skipped = 2;
  it.weights_checksums["p"] = 42;
  return it;
}
}  // namespace

TEST_CASE("the group's window holds its newest episodes: an idle replica's old ones age out") {
  GroupRows rows(100);
  // Iteration 1: rank 1 finishes 50 short episodes, then its clients go idle for good.
  auto g = rows.merge({part(1000, 10, 500, 10, 8), part(1300, 50, 26, 30, 2)});
  CHECK(g.metrics.timesteps_total == 2300);
  CHECK(g.metrics.episodes_total == 60);
  CHECK(g.metrics.episode_reward.count == 60);
  CHECK(g.metrics.episode_reward.mean == doctest::Approx((10 * 500.0 + 50 * 26.0) / 60));
  CHECK(g.metrics.episode_reward.min == 26);
  CHECK(g.metrics.mean_inference_batch == doctest::Approx((10 * 8.0 + 30 * 2.0) / 40));  // per pass
  CHECK(g.bad_batches_skipped == 2);
  CHECK(g.bad_sgd_steps_skipped == 2);  // a group decision each rank counted: not summed
  CHECK(g.trained_steps == 2300);
  // Rank 0 alone goes on; rank 1 adds nothing new (its counters stay).
  for (int i = 0; i < 10; ++i) g = rows.merge({part(2000 + 1000 * i, 10, 500, 10, 8), part(1300, 0, 0, 0, 0)});
  CHECK(g.metrics.episode_reward.count == 100);
  CHECK(g.metrics.episode_reward.mean == doctest::Approx(500));  // the 50 old ones are out
  CHECK(g.metrics.policy_reward_mean.at("p") == doctest::Approx(500));
  CHECK(g.metrics.episode_len_mean == doctest::Approx(500));
  CHECK(g.metrics.timesteps_total == 2000 + 9000 + 1300);
}

TEST_CASE("a rank's part survives its trip through the store") {
  auto it = part(777, 3, 12.5, 4, 3);
  it.metrics.custom_metrics["m"] = {1.5, 1, 2, 3};
  it.metrics.evaluation_reward = {9, 8, 10, 2};
  const auto back = read_iteration(nlohmann::json::parse(share_iteration(it).dump()));
  CHECK(back.metrics.timesteps_total == 777);
  CHECK(back.metrics.new_episodes.size() == 3);
  CHECK(back.metrics.new_episodes[2].policy_rewards.at("p") == 12.5);
  CHECK(back.metrics.custom_metrics.at("m").count == 3);
  CHECK(back.metrics.evaluation_reward.max == 10);
  CHECK(back.weights_checksums.at("p") == 42);
  CHECK(back.bad_sgd_steps_skipped == 2);
  CHECK_THROWS_AS(read_iteration(nlohmann::json::parse(R"({"timesteps_total": "x"})")), nlohmann::json::exception);
}

TEST_CASE("more new episodes than the window: the newest of every rank stay, not the last rank's only") {
  GroupRows rows(100);
  const auto g = rows.merge({part(1000, 150, 10, 1, 1), part(1000, 150, 30, 1, 1)});
  CHECK(g.metrics.episode_reward.count == 100);
  CHECK(g.metrics.episode_reward.mean == doctest::Approx(20).epsilon(0.02));  // half of each
}

TEST_CASE("a huge custom metric (inf once aggregated) travels as null and does not break the row") {
  auto it = part(10, 1, 1, 1, 1);
  it.metrics.custom_metrics["huge"] = {std::numeric_limits<double>::infinity(), 1e308,
                                       std::numeric_limits<double>::infinity(), 2};
  const auto back = read_iteration(nlohmann::json::parse(share_iteration(it).dump()));
  CHECK(std::isnan(back.metrics.custom_metrics.at("huge").mean));
  CHECK(back.metrics.custom_metrics.at("huge").min == 1e308);
  CHECK_THROWS_WITH_AS(read_iteration(nlohmann::json{{"failed", "boom"}}), doctest::Contains("boom"), std::runtime_error);
}
