// A replica group of real tandem-server processes on loopback (docs/ARCHITECTURE.md, "Past one
// machine"): 2 and 3 replicas train one policy with bit-identical weights, rank 0 writes one
// set of results with the counters summed exactly, idle replicas do not block, a stop
// criterion stops every rank, --restore restores the group, a config that differs stops
// every rank with its name, and a replica that dies leaves the others serving, not training.
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "support/free_port.h"
#include "support/server_process.h"

using namespace tandem;
using test::ServerProcess;

namespace {

using test::free_port;

constexpr int kBatch = 64;  // train_batch_size per replica
constexpr int kLen = 16;    // steps per episode = rollout_fragment_length

nlohmann::json group_config(int size, const std::string& master) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 5,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 2,
               "rollout_fragment_length": 16, "model": {"fcnet_hiddens": [16, 16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 2}}},
    "group_timeout_s": 10, "group_join_timeout_s": 30
  })");
  j["group_size"] = size;
  j["group_master"] = master;
  return j;
}

// The group's processes: rank r runs with its own results dir. All are spawned first, then
// awaited (rank 0 listens only when every rank has joined).
struct Group {
  std::vector<std::unique_ptr<ServerProcess>> ranks;
  Group(const std::string& name, int size, const std::function<void(int, nlohmann::json&)>& edit = {},
        const std::vector<std::vector<std::string>>& extra = {}) {
    const std::string master = "127.0.0.1:" + std::to_string(free_port());
    for (int r = 0; r < size; ++r) {
      auto j = group_config(size, master);
      j["group_rank"] = r;
      j["results_dir"] = test::results_path(name + "_rank" + std::to_string(r)) + "/results";
      if (edit) edit(r, j);
      ranks.push_back(std::make_unique<ServerProcess>(
          j, name + "_rank" + std::to_string(r), r < static_cast<int>(extra.size()) ? extra[r] : std::vector<std::string>{},
          ServerProcess::Listen::Later));
    }
  }
  void await() {
    for (auto& s : ranks) {
      const auto err = s->try_await_listening(40);
      REQUIRE_MESSAGE(err.empty(), err);
    }
  }
  ServerProcess& operator[](int r) { return *ranks[static_cast<size_t>(r)]; }
  std::string results(int r) { return ranks[static_cast<size_t>(r)]->config()["results_dir"].get<std::string>(); }
};

// `episodes` episodes of kLen steps on one replica.
void play(ServerProcess& s, int episodes) {
  client::PolicyClient c(s.address());
  for (int e = 0; e < episodes; ++e) {
    auto ep = c.start_episode();
    for (int t = 0; t < kLen; ++t) {
      c.get_action(ep, std::vector<float>{0.1f * static_cast<float>(t), -0.5f});
      c.log_returns(ep, 1.0f);
    }
    c.end_episode(ep, std::vector<float>{0.f, 0.f});
  }
  c.flush();
}

std::vector<nlohmann::json> rows(const std::string& results_dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(results_dir + "/result.json");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

void all_reach_iteration(Group& g, int iter) {
  for (auto& s : g.ranks)
    REQUIRE_MESSAGE(s->metric_reaches("tandem_training_iteration", iter, 30) == iter,
                    "a replica did not reach iteration " << iter << "; log: " << test::file_tail(s->dir() + "/server.stdout.log"));
}

void same_weights(Group& g, int version) {
  const double sum0 = g[0].metric("tandem_weights_checksum{policy=\"p\"}");
  for (size_t r = 0; r < g.ranks.size(); ++r) {
    CHECK(g.ranks[r]->metric("tandem_weights_version{policy=\"p\"}") == version);
    CHECK_MESSAGE(g.ranks[r]->metric("tandem_weights_checksum{policy=\"p\"}") == sum0, "rank " << r << "'s weights differ from rank 0's");
  }
}

// Two rounds of episodes (episodes[round][rank], each round exactly the group's batch), then
// the stop criterion (2 iterations) ends every rank.
void two_rounds(const std::string& name, const std::vector<std::vector<int>>& episodes) {
  const int size = static_cast<int>(episodes[0].size());
  Group g(name, size, [](int, nlohmann::json& j) { j["stop"] = {{"training_iteration", 2}}; });
  g.await();
  int64_t steps = 0, eps = 0;
  for (int round = 0; round < 2; ++round) {
    int64_t round_steps = 0;
    for (int r = 0; r < size; ++r) {
      play(g[r], episodes[static_cast<size_t>(round)][static_cast<size_t>(r)]);
      round_steps += kLen * episodes[static_cast<size_t>(round)][static_cast<size_t>(r)];
      eps += episodes[static_cast<size_t>(round)][static_cast<size_t>(r)];
    }
    REQUIRE(round_steps == static_cast<int64_t>(kBatch) * size);  // the group's batch
    steps += round_steps;
    if (round == 0) {
      all_reach_iteration(g, 1);
      same_weights(g, 1);
      for (int r = 0; r < size; ++r)  // each replica's own counters
        CHECK(g[r].metric("tandem_timesteps_total") == kLen * episodes[0][static_cast<size_t>(r)]);
    }
  }
  // Rank 0 meets the stop criterion: every rank stops by itself, cleanly.
  for (int r = 0; r < size; ++r) CHECK_MESSAGE(g[r].wait_exit(30) == 0, "rank " << r);
  const auto rs = rows(g.results(0));
  REQUIRE(rs.size() == 2);
  CHECK(rs[0]["timesteps_total"] == kBatch * size);  // summed over the replicas, exactly
  CHECK(rs[1]["timesteps_total"] == steps);
  CHECK(rs[1]["episodes_total"] == eps);
  CHECK(rs[1]["num_steps_trained_this_iter"] == kBatch * size);
  CHECK(rs[1]["info"]["learner"]["p"]["group_rows"] == kBatch * size);
  CHECK(rs[1]["group_size"] == size);
  CHECK(rs[1]["episode_reward_mean"].get<double>() == doctest::Approx(kLen));
  for (int r = 1; r < size; ++r) CHECK_FALSE(std::filesystem::exists(g.results(r) + "/result.json"));
  // The checkpoint at the end holds the group's counters.
  nlohmann::json state;
  std::ifstream(g.results(0) + "/checkpoint_000002/state.json") >> state;
  CHECK(state["timesteps_total"] == steps);
  CHECK(state["episodes_total"] == eps);
}

}  // namespace

TEST_CASE("2 replicas: one set of results with summed counters, bit-identical weights, one stop") {
  two_rounds("replica_pair", {{3, 5}, {6, 2}});
}

TEST_CASE("3 replicas, one of them idle in the first round: it adds nothing and blocks nobody") {
  two_rounds("replica_trio", {{4, 8, 0}, {4, 4, 4}});
}

TEST_CASE("--restore on rank 0 restores the whole group") {
  std::string checkpoint;
  {
    Group g("replica_restore_a", 2, [](int, nlohmann::json& j) { j["stop"] = {{"training_iteration", 1}}; });
    g.await();
    play(g[0], 4);
    play(g[1], 4);
    for (int r = 0; r < 2; ++r) CHECK(g[r].wait_exit(30) == 0);
    checkpoint = g.results(0) + "/checkpoint_000001";
    REQUIRE(std::filesystem::exists(checkpoint + "/state.json"));
  }
  Group g("replica_restore_b", 2, [](int, nlohmann::json& j) { j["stop"] = {{"training_iteration", 2}}; },
          {{"--restore", checkpoint}, {}});
  g.await();
  // Rank 1 has rank 0's restored state: the iteration, the weights.
  for (int r = 0; r < 2; ++r) CHECK(g[r].metric("tandem_training_iteration") == 1);
  same_weights(g, 1);
  play(g[0], 2);
  play(g[1], 6);
  for (int r = 0; r < 2; ++r) CHECK(g[r].wait_exit(30) == 0);  // the stop criterion: iteration 2
  const auto rs = rows(g.results(0));
  REQUIRE(!rs.empty());
  CHECK(rs.back()["training_iteration"] == 2);
  CHECK(rs.back()["timesteps_total"] == 2 * 2 * kBatch);  // the restored 128 + 128 new
}

TEST_CASE("ranks whose configs differ stop, every one, naming the difference") {
  Group g("replica_mismatch", 2, [](int r, nlohmann::json& j) {
    if (r == 1) j["config"]["lr"] = 0.01;
  });
  for (int r = 0; r < 2; ++r) {
    const auto err = g[r].try_await_listening(40);
    CHECK_MESSAGE(!err.empty(), "rank " << r << " started");
    CHECK(g[r].exit_code() == 2);
    const auto log = test::file_tail(g[r].stderr_path());
    CHECK_MESSAGE(log.find("config/lr: 5e-05 on rank 0, 0.01 on rank 1") != std::string::npos, log);
  }
}

TEST_CASE("a replica that dies: the others stop training, say so, and keep serving") {
  for (const int dead : {1, 0}) {
    CAPTURE(dead);
    Group g("replica_death_" + std::to_string(dead), 2);
    g.await();
    play(g[0], 4);
    play(g[1], 4);
    all_reach_iteration(g, 1);
    ::kill(g[dead].pid(), SIGKILL);
    const int alive = 1 - dead;
    CHECK(g[alive].metric_reaches("tandem_group_broken", 1, 15) == 1);
    const auto log = test::file_tail(g[alive].dir() + "/server.stdout.log", 8000);
    CHECK_MESSAGE(log.find("the replica group is broken") != std::string::npos, log);
    // Serving goes on with the last weights; what is served is no longer trained on.
    play(g[alive], 10);
    CHECK(g[alive].metric("tandem_episodes_total") == 14);
    CHECK(g[alive].metric("tandem_weights_version{policy=\"p\"}") == 1);
    CHECK(g[alive].metric("tandem_training_iteration") == 1);
    CHECK(g[alive].stop(30) == 0);
  }
}

TEST_CASE("group_on_failure \"exit\": the survivors exit (code 4) for a supervisor to restart the group") {
  Group g("replica_death_exit", 3, [](int, nlohmann::json& j) { j["group_on_failure"] = "exit"; });
  g.await();
  play(g[0], 4);
  play(g[1], 4);
  play(g[2], 4);
  all_reach_iteration(g, 1);
  ::kill(g[2].pid(), SIGKILL);
  for (int r = 0; r < 2; ++r) {
    CHECK_MESSAGE(g[r].wait_exit(20) == 4, "rank " << r);
    CHECK(test::file_tail(g[r].stderr_path()).find("its replica group broke") != std::string::npos);
  }
}
