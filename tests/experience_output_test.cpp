// Experience output (config "output", policy_server/experience_output.h) of a real
// tandem-server process, read back from outside with core's decoder: "episodes" (also for
// training_enabled=false and --no-train), "batches" (the train batch with its advantages),
// file roll-over, a full queue (batches dropped and counted) and a file size limit that makes
// writes fail like a full disk (counted; serving goes on).
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "core/offline_json.h"
#include "policy_client/policy_client.h"
#include "support/requests.h"
#include "support/samples_file.h"
#include "support/server_process.h"

using tandem::client::PolicyClient;
using tandem::test::ServerProcess;
namespace core = tandem::core;

namespace {

nlohmann::json output_config(const std::string& name, const std::string& what) {
  auto j = tandem::test::config_for(name);
  j["output_config"] = {{"what", what}};
  j["config"]["rollout_fragment_length"] = 4;
  return j;
}

std::vector<float> obs(int t) { return {0.25f * static_cast<float>(t), -0.5f}; }

// Every line of every output file, decoded with the server's spaces; fails on a bad line.
std::vector<core::OfflineBatch> read_lines(const std::string& dir) {
  std::vector<core::OfflineBatch> out;
  for (const auto& f : tandem::test::output_files(dir)) {
    std::ifstream in(f);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      core::OfflineBatch b;
      auto st = core::decode_offline_line(line, core::Space::box({2}), core::Space::discrete(3), b);
      REQUIRE_MESSAGE(st.ok(), f << " line " << n << ": " << st.message);
      out.push_back(std::move(b));
    }
  }
  return out;
}

// Plays an episode of `steps` steps with reward t + 1 at step t.
void play(PolicyClient& c, const std::string& id, int steps, bool training_enabled = true, bool truncated = false) {
  const auto ep = c.start_episode(id, training_enabled);
  for (int t = 0; t < steps; ++t) {
    c.get_action(ep, obs(t));
    c.log_returns(ep, static_cast<float>(t + 1));
  }
  c.end_episode(ep, obs(steps), truncated);
}

}  // namespace

TEST_CASE("episodes: one line per finished episode, training_enabled=false too, on a server that does not train") {
  const std::string name = "experience_output_episodes";
  ServerProcess server(output_config(name, "episodes"), name, {"--no-train"});
  {
    PolicyClient c(server.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(1));
    play(c, "ep-a", 6);                                 // fragments of 4 + 2
    play(c, "ep-b", 3, /*training_enabled=*/false, /*truncated=*/true);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_output_rows_written_total", 9) == 9);
  CHECK(server.metric("tandem_output_lines_written_total") == 2);
  CHECK(server.stop() == 0);
  const auto lines = read_lines(server.samples_path());
  REQUIRE(lines.size() == 2);
  const auto& a = lines[0];
  CHECK(a.policy_id == "p");
  CHECK(a.count == 6);
  CHECK(a.eps_id == std::vector<std::string>(6, "ep-a"));
  CHECK(a.t == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(a.rewards == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(a.dones == std::vector<uint8_t>{0, 0, 0, 0, 0, 1});
  CHECK(a.truncateds == std::vector<uint8_t>{0, 0, 0, 0, 0, 0});
  for (int t = 0; t < 6; ++t) {
    CHECK(std::vector<float>(a.obs.begin() + 2 * t, a.obs.begin() + 2 * t + 2) == obs(t));
    if (t < 5) CHECK(std::vector<float>(a.new_obs.begin() + 2 * t, a.new_obs.begin() + 2 * t + 2) == obs(t + 1));
  }
  CHECK(a.action_logp.size() == 6);
  CHECK(a.dist_dim == 3);
  for (float lp : a.action_logp) CHECK(lp <= 0.f);
  for (int64_t x : a.actions) CHECK((x >= 0 && x < 3));
  const auto& b = lines[1];
  CHECK(b.count == 3);
  CHECK(b.eps_id == std::vector<std::string>(3, "ep-b"));
  CHECK(b.dones == std::vector<uint8_t>{0, 0, 1});
  CHECK(b.truncateds == std::vector<uint8_t>{0, 0, 1});
  CHECK(b.bootstrap_value[2] != 0.f);  // V(last observation) of the truncated episode
  CHECK(std::vector<float>(b.new_obs.begin() + 4, b.new_obs.end()) == obs(3));  // EndEpisode's observation
  CHECK(std::vector<float>(a.new_obs.begin() + 10, a.new_obs.end()) == obs(6));
}

TEST_CASE("episodes from a local-inference client: steps, agent order and ends as its reports tell them") {
  const std::string name = "experience_output_local";
  ServerProcess server(output_config(name, "episodes"), name, {"--no-train"});
  {
    PolicyClient c(server.address(), tandem::client::InferenceMode::Local, tandem::test::client_options(7));
    play(c, "loc-a", 6);
    play(c, "loc-b", 3, /*training_enabled=*/true, /*truncated=*/true);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_output_rows_written_total", 9, 20) == 9);
  CHECK(server.stop() == 0);
  std::map<std::string, core::OfflineBatch> rows;  // the lines of each episode, joined
  for (auto& b : read_lines(server.samples_path())) {
    auto& r = rows[b.eps_id.at(0)];
    r.t.insert(r.t.end(), b.t.begin(), b.t.end());
    r.dones.insert(r.dones.end(), b.dones.begin(), b.dones.end());
    r.truncateds.insert(r.truncateds.end(), b.truncateds.begin(), b.truncateds.end());
    r.rewards.insert(r.rewards.end(), b.rewards.begin(), b.rewards.end());
    r.agent_index.insert(r.agent_index.end(), b.agent_index.begin(), b.agent_index.end());
  }
  REQUIRE(rows.size() == 2);
  CHECK(rows["loc-a"].t == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(rows["loc-a"].rewards == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(rows["loc-a"].dones == std::vector<uint8_t>{0, 0, 0, 0, 0, 1});
  CHECK(rows["loc-a"].truncateds == std::vector<uint8_t>{0, 0, 0, 0, 0, 0});
  CHECK(rows["loc-b"].t == std::vector<int64_t>{0, 1, 2});
  CHECK(rows["loc-b"].dones == std::vector<uint8_t>{0, 0, 1});
  CHECK(rows["loc-b"].truncateds == std::vector<uint8_t>{0, 0, 1});
  CHECK(rows["loc-b"].agent_index == std::vector<int64_t>{0, 0, 0});
}

TEST_CASE("batches: every batch the learner trains on, with its advantages and value targets") {
  const std::string name = "experience_output_batches";
  auto cfg = output_config(name, "batches");
  cfg["config"]["train_batch_size"] = 16;
  cfg["config"]["sgd_minibatch_size"] = 8;
  ServerProcess server(cfg, name);
  {
    PolicyClient c(server.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(2));
    for (int e = 0; e < 14; ++e) play(c, "ep-" + std::to_string(e), 5);  // 70 steps: batches of >= 16
    c.flush();
  }
  // The learner takes what is pending when it wakes (>= 16 steps): wait until it is idle.
  CHECK(tandem::test::eventually([&] { return server.metric("tandem_training_iteration") >= 2; }, 30));
  for (double before = -1, now = server.metric("tandem_training_iteration"); now != before;) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    before = now;
    now = server.metric("tandem_training_iteration");
  }
  CHECK(server.stop() == 0);
  const auto lines = read_lines(server.samples_path());
  std::ifstream results(server.config()["results_dir"].get<std::string>() + "/result.json");
  std::vector<std::string> result_rows;
  for (std::string r; std::getline(results, r);) result_rows.push_back(r);
  REQUIRE(lines.size() >= 2);
  REQUIRE(lines.size() == result_rows.size());  // one line per trained batch
  size_t k = 0;
  for (const auto& b : lines) {
    const std::string& row = result_rows[k++];
    const auto j = nlohmann::json::parse(row);
    CHECK(b.count == j["info"]["learner"]["p"]["num_steps_trained"].get<int64_t>());
    REQUIRE(b.advantages.size() == static_cast<size_t>(b.count));
    REQUIRE(b.value_targets.size() == static_cast<size_t>(b.count));
    for (int64_t i = 0; i < b.count; ++i)  // GAE: value target = advantage + V(s)
      CHECK(b.value_targets[i] == doctest::Approx(b.advantages[i] + b.vf_preds[i]).epsilon(1e-5));
  }
}

TEST_CASE("files roll over at output_max_file_size and hold whole lines only") {
  const std::string name = "experience_output_rollover";
  auto cfg = output_config(name, "episodes");
  cfg["output_max_file_size"] = 3000;
  ServerProcess server(cfg, name, {"--no-train"});
  {
    PolicyClient c(server.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(3));
    for (int e = 0; e < 20; ++e) play(c, "ep-" + std::to_string(e), 5);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_output_lines_written_total", 20) == 20);
  CHECK(server.stop() == 0);
  const auto files = tandem::test::output_files(server.samples_path());
  CHECK(files.size() > 3);
  const auto lines = read_lines(server.samples_path());
  CHECK(lines.size() == 20);
  for (const auto& f : files) CHECK(std::filesystem::file_size(f) <= 3000);
}

TEST_CASE("a full queue drops whole batches and counts them; a long episode is written in parts") {
  const std::string name = "experience_output_dropped";
  auto cfg = output_config(name, "episodes");
  cfg["output_config"]["max_queued_bytes"] = 500;  // an episode of 2 rows fits, one of 5 does not
  ServerProcess server(cfg, name, {"--no-train"});
  {
    PolicyClient c(server.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(4));
    for (int e = 0; e < 3; ++e) play(c, "long-" + std::to_string(e), 5);
    play(c, "short", 2);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_output_lines_written_total", 1) == 1);
  CHECK(server.metric("tandem_output_batches_dropped_total") == 3);
  CHECK(server.metric("tandem_output_rows_dropped_total") == 15);
  CHECK(server.metric("tandem_episodes_total") == 4);
  CHECK(server.stop() == 0);
  const auto lines = read_lines(server.samples_path());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].eps_id[0] == "short");

  const std::string name2 = "experience_output_parts";
  auto cfg2 = output_config(name2, "episodes");
  cfg2["output_config"]["max_episode_rows"] = 4;  // fragments of 4 (rollout_fragment_length)
  ServerProcess parts(cfg2, name2, {"--no-train"});
  {
    PolicyClient c(parts.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(5));
    play(c, "ten", 10);
    c.flush();
  }
  CHECK(parts.metric_reaches("tandem_output_rows_written_total", 10) == 10);
  CHECK(parts.stop() == 0);
  const auto part_lines = read_lines(parts.samples_path());
  REQUIRE(part_lines.size() == 3);
  CHECK(part_lines[0].t == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(part_lines[1].t == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(part_lines[2].t == std::vector<int64_t>{8, 9});
  CHECK(part_lines[2].dones.back() == 1);
}

TEST_CASE("writes that fail (a file size limit, as a full disk) are counted; serving and the learner go on") {
  const std::string name = "experience_output_full";
  // The server runs under `prlimit --fsize`: a write past 40 kB fails with EFBIG.
  const std::string wrapper = std::filesystem::absolute(tandem::test::results_path(name + "_bin")).string();
  std::filesystem::create_directories(wrapper);
  const std::string script = wrapper + "/tandem-server-fsize";
  std::ofstream(script) << "#!/bin/sh\nexec prlimit --fsize=40000 " << ServerProcess::binary() << " \"$@\"\n";
  ::chmod(script.c_str(), 0755);
  ::setenv("TANDEM_SERVER_BIN", script.c_str(), 1);
  auto cfg = output_config(name, "episodes");
  cfg["config"]["train_batch_size"] = 32;
  cfg["config"]["sgd_minibatch_size"] = 16;
  ServerProcess server(cfg, name);
  ::unsetenv("TANDEM_SERVER_BIN");
  {
    PolicyClient c(server.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(5));
    for (int e = 0; e < 150; ++e) play(c, "ep-" + std::to_string(e), 5);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_episodes_total", 150) == 150);
  CHECK(server.metric_reaches("tandem_output_write_errors_total", 1) >= 1);
  CHECK(server.metric("tandem_training_iteration") >= 1);
  CHECK(server.metric("tandem_learner_errors_total") == 0);
  {  // a new client is served as before
    PolicyClient c(server.address(), tandem::client::InferenceMode::Remote, tandem::test::client_options(6));
    play(c, "after", 3);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_episodes_total", 151) == 151);
  double written = 0, errors = 0;  // the writer thread may still be on the last line
  CHECK(tandem::test::eventually([&] {
    written = server.metric("tandem_output_lines_written_total");
    errors = server.metric("tandem_output_write_errors_total");
    return written + errors == 151;
  }));
  CHECK(server.stop() == 0);
  const auto lines = read_lines(server.samples_path());  // whole lines only
  CHECK(static_cast<double>(lines.size()) == written);
  CHECK(tandem::test::file_tail(server.dir() + "/server.stdout.log", 100000).find("experience output: writing to") != std::string::npos);
}
