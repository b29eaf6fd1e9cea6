// core/offline_json: RLlib SampleBatch JSON lines, written and read back; the reference's
// layout; errors named by column and row; input paths (file, directory, glob).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/offline_input.h"
#include "core/offline_json.h"

using namespace tandem::core;
namespace fs = std::filesystem;

namespace {

OfflineBatch discrete_batch() {
  OfflineBatch b;
  b.policy_id = "p";
  b.count = 3;
  b.obs_dim = 2;
  b.obs = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  b.new_obs = {0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  b.action_width = 1;
  b.actions = {2, 0, 3};
  b.rewards = {1.f, -0.5f, 0.25f};
  b.dones = {0, 0, 1};
  b.truncateds = {0, 0, 1};
  b.t = {0, 1, 2};
  b.eps_id = {"ep-1", "ep-1", "ep-1"};
  b.unroll_id = {7, 7, 7};
  b.agent_index = {0, 0, 0};
  b.action_logp = {-1.386294f, -0.1f, -2.5f};
  b.dist_dim = 4;
  b.action_dist_inputs = {0, 0, 0, 0, 1, 2, 3, 4, -1e9f, 0, 0, 0};
  b.vf_preds = {0.5f, 0.25f, 0.125f};
  b.advantages = {0.1f, 0.2f, 0.3f};
  b.value_targets = {0.6f, 0.45f, 0.425f};
  b.agent_id = {"a", "a", "a"};
  b.bootstrap_value = {0.f, 0.f, 0.75f};
  return b;
}

std::string tmp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("tandem_offline_json_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

}  // namespace

TEST_CASE("a Discrete batch round-trips bit for bit, with RLlib's derived columns") {
  const auto b = discrete_batch();
  const auto line = encode_offline_line(b, Space::discrete(4));
  CHECK(line.find('\n') == std::string::npos);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["type"] == "SampleBatch");
  CHECK(j["actions"] == nlohmann::json({2, 0, 3}));
  CHECK(j["prev_actions"] == nlohmann::json({0, 2, 0}));
  CHECK(j["prev_rewards"] == nlohmann::json({0.0, 1.0, -0.5}));
  CHECK(j["action_prob"][0].get<double>() == doctest::Approx(0.25).epsilon(1e-6));
  CHECK(j["dones"] == nlohmann::json({false, false, true}));

  OfflineBatch r;
  auto st = decode_offline_line(line, Space::box({2}), Space::discrete(4), r);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(r.policy_id == b.policy_id);
  CHECK(r.count == 3);
  CHECK(r.obs == b.obs);
  CHECK(r.new_obs == b.new_obs);
  CHECK(r.actions == b.actions);
  CHECK(r.rewards == b.rewards);
  CHECK(r.dones == b.dones);
  CHECK(r.truncateds == b.truncateds);
  CHECK(r.t == b.t);
  CHECK(r.eps_id == b.eps_id);
  CHECK(r.unroll_id == b.unroll_id);
  CHECK(r.action_logp == b.action_logp);
  CHECK(r.dist_dim == 4);
  CHECK(r.action_dist_inputs == b.action_dist_inputs);
  CHECK(r.vf_preds == b.vf_preds);
  CHECK(r.advantages == b.advantages);
  CHECK(r.value_targets == b.value_targets);
  CHECK(r.agent_id == b.agent_id);
  CHECK(r.bootstrap_value == b.bootstrap_value);
}

TEST_CASE("append_fragment: new_obs, ends and bootstraps of cut, truncated and terminated fragments") {
  Trajectory t;
  t.obs_dim = 1;
  t.obs = {1, 2, 3};
  t.actions = {0, 1, 0};
  t.action_logp = {-0.5f, -0.6f, -0.7f};
  t.vf_preds = {0.1f, 0.2f, 0.3f};
  t.dist_inputs = {0, 0, 1, 1, 2, 2};
  t.rewards = {1, 1, 1};
  t.bootstrap_value = 0.9f;
  OfflineBatch b;
  append_fragment(b, t, {"e", "x", 2, 10, /*agent_done=*/false, {4.f}});  // a cut
  CHECK(b.count == 3);
  CHECK(b.new_obs == std::vector<float>{2, 3, 4});
  CHECK(b.t == std::vector<int64_t>{10, 11, 12});
  CHECK(b.dones == std::vector<uint8_t>{0, 0, 0});
  CHECK(b.bootstrap_value == std::vector<float>{0, 0, 0.9f});
  CHECK(b.agent_index == std::vector<int64_t>{2, 2, 2});
  CHECK(b.dist_dim == 2);
  append_fragment(b, t, {"e", "x", 2, 13, /*agent_done=*/true, {}});  // truncated: no next obs
  CHECK(b.count == 6);
  CHECK(std::vector<float>(b.new_obs.begin() + 3, b.new_obs.end()) == std::vector<float>{2, 3, 3});
  CHECK(b.dones[5] == 1);
  CHECK(b.truncateds[5] == 1);
  t.terminated = true;
  t.bootstrap_value = 0;
  append_fragment(b, t, {"f", "x", 0, 0, true, {}});
  CHECK(b.truncateds[8] == 0);
  CHECK(b.dones[8] == 1);
  CHECK(b.bootstrap_value[8] == 0.f);
  Trajectory wide = t;
  wide.obs_dim = 3;
  wide.obs = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK_THROWS_AS(append_fragment(b, wide, {}), std::invalid_argument);
}

TEST_CASE("prev_actions and prev_rewards follow each agent's own steps, across rows of other agents") {
  OfflineBatch b;
  Trajectory t;
  t.obs_dim = 1;
  t.obs = {0, 0};
  t.actions = {1, 2};
  t.action_logp = {0, 0};
  t.vf_preds = {0, 0};
  t.rewards = {10, 20};
  append_fragment(b, t, {"e", "a", 0, 0, false, {}});  // a: t 0, 1
  t.actions = {0, 0};
  t.rewards = {-1, -2};
  append_fragment(b, t, {"e", "b", 1, 0, false, {}});  // b: t 0, 1
  t.actions = {2, 1};
  t.rewards = {30, 40};
  append_fragment(b, t, {"e", "a", 0, 2, false, {}});  // a: t 2, 3
  append_fragment(b, t, {"e", "a", 0, 7, false, {}});  // a: t 7, 8 (t 6 is not in the line)
  const auto j = nlohmann::json::parse(encode_offline_line(b, Space::discrete(3)));
  CHECK(j["prev_actions"] == nlohmann::json({0, 1, 0, 0, 2, 2, 0, 2}));
  CHECK(j["prev_rewards"] == nlohmann::json({0, 10, 0, -1, 20, 30, 0, 30}));
}

TEST_CASE("Box and MultiDiscrete actions keep their shapes") {
  auto b = discrete_batch();
  b.actions.clear();
  b.action_width = 1;
  b.actions_cont = {55.5f, -0.25f, 120.f};  // outside Box(0, 100): samples are unclipped
  auto line = encode_offline_line(b, Space::box({1}, 0, 100));
  CHECK(nlohmann::json::parse(line)["actions"] == nlohmann::json::parse("[[55.5],[-0.25],[120.0]]"));
  OfflineBatch r;
  REQUIRE(decode_offline_line(line, Space::box({2}), Space::box({1}, 0, 100), r).ok());
  CHECK(r.actions_cont == b.actions_cont);

  b.actions_cont.clear();
  b.action_width = 2;
  b.actions = {1, 2, 0, 0, 3, 1};
  line = encode_offline_line(b, Space::multi_discrete({4, 3}));
  CHECK(nlohmann::json::parse(line)["actions"] == nlohmann::json::parse("[[1,2],[0,0],[3,1]]"));
  REQUIRE(decode_offline_line(line, Space::box({2}), Space::multi_discrete({4, 3}), r).ok());
  CHECK(r.actions == b.actions);
}

TEST_CASE("a line in the reference's layout (RLlib's JsonWriter) loads") {
  // Two rows of 000_b1f235017605f7f7.txt's first line, as RLlib wrote them: integer eps_id,
  // no policy_id, no truncateds, normalized Box actions.
  const std::string line = R"({"type": "SampleBatch", "obs": [[4.8118495941, -2.3441574574], [2.9057257175, 1.5]],
    "actions": [[1.0178880692], [0.9851945043]], "prev_actions": [[1.0178880692], [0.9851945043]],
    "rewards": [0.9583539367, 0.4122557342], "prev_rewards": [0.9583539367, 0.4122557342],
    "dones": [true, true], "t": [0, 0], "eps_id": [1473058350, 1302222902], "unroll_id": [26600, 26601],
    "agent_index": [0, 0], "action_prob": [0.3876596391, 0.2923718989], "action_logp": [-0.9476275444, -1.2297286987],
    "action_dist_inputs": [[0.4882035851, -0.167365104], [0.1870, 0.2]], "advantages": [0.4965085387, -0.0309310257],
    "value_targets": [0.9583539367, 0.4122557342], "new_obs": [[4.8118495941, -2.3441574574], [2.9057257175, 1.5]]})";
  OfflineBatch r;
  auto st = decode_offline_line(line, Space::box({2}, -100, 100), Space::box({1}, 0, 100), r);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(r.count == 2);
  CHECK(r.policy_id.empty());
  CHECK(r.eps_id == std::vector<std::string>{"1473058350", "1302222902"});
  CHECK(r.dones == std::vector<uint8_t>{1, 1});
  CHECK(r.truncateds == std::vector<uint8_t>{0, 0});
  CHECK(r.actions_cont[1] == doctest::Approx(0.9851945043));
  CHECK(r.dist_dim == 2);
}

TEST_CASE("raw Discrete observations are one-hot encoded; defaults fill optional columns") {
  const std::string line = R"({"obs": [[1, 3], [2, 0]], "actions": [1, 0], "rewards": [0.5, 1]})";
  OfflineBatch r;
  auto st = decode_offline_line(line, Space::multi_discrete({3, 4}), Space::discrete(2), r);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(r.obs_dim == 7);
  CHECK(r.obs == std::vector<float>{0, 1, 0, 0, 0, 0, 1, /**/ 0, 0, 1, 1, 0, 0, 0});
  CHECK(r.new_obs == std::vector<float>{0, 0, 1, 1, 0, 0, 0, /**/ 0, 0, 1, 1, 0, 0, 0});
  CHECK(r.t == std::vector<int64_t>{0, 1});
  CHECK(r.dones == std::vector<uint8_t>{0, 0});
  CHECK(r.action_logp.empty());
}

TEST_CASE("bad lines are refused naming the column and the row") {
  const Space obs = Space::box({2}, -10, 10), act = Space::discrete(4);
  auto err = [&](const std::string& line) {
    OfflineBatch r;
    auto st = decode_offline_line(line, obs, act, r);
    CHECK(st.code == ErrorCode::BadRequest);
    CHECK(r.count == 0);
    return st.message;
  };
  CHECK(err("{not json").find("not JSON") != std::string::npos);
  CHECK(err("[1,2]").find("object") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1]})").find("'rewards'") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1], "rewards": [1, 2]})").find("'obs'") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2,3]], "actions": [1], "rewards": [1]})").find("3 values") != std::string::npos);
  CHECK(err(R"({"obs": [[1,20]], "actions": [1], "rewards": [1]})").find("row 0") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2],[1,2]], "actions": [1, 4], "rewards": [1, 1]})").find("'actions' row 1") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1.5], "rewards": [1]})").find("outside") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1], "rewards": ["x"]})").find("'rewards' row 0") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1], "rewards": [1e300]})").find("float range") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1], "rewards": [1], "dones": ["yes"]})").find("'dones'") != std::string::npos);
  CHECK(err(R"({"obs": [[1,2]], "actions": [1], "rewards": [1], "eps_id": [0.5]})").find("'eps_id'") != std::string::npos);
  CHECK(err(R"({"type": "MultiAgentBatch", "policy_batches": {}})").find("SampleBatch") != std::string::npos);
  CHECK(err(R"({"obs": [[[[[[[[[[[1]]]]]]]]]]], "actions": [1], "rewards": [1]})").find("deeply") != std::string::npos);
}

TEST_CASE("input paths: a file, a directory, a glob; lines of other policies are skipped") {
  const auto dir = tmp_dir("paths");
  auto b = discrete_batch();
  const Space obs = Space::box({2}), act = Space::discrete(4);
  {
    std::ofstream(dir + "/a.json") << encode_offline_line(b, act) << "\n\n" << encode_offline_line(b, act) << "\n";
    b.policy_id = "other";
    std::ofstream(dir + "/b.jsonl") << encode_offline_line(b, act) << "\n";
    std::ofstream(dir + "/notes.txt") << "not data\n";
  }
  OfflineData d;
  REQUIRE(read_offline_input(dir, "p", obs, act, d).ok());
  CHECK(d.files.size() == 2);
  CHECK(d.batches.size() == 2);
  CHECK(d.rows == 6);
  REQUIRE(read_offline_input(dir + "/a.json", "p", obs, act, d).ok());
  CHECK(d.rows == 6);
  REQUIRE(read_offline_input(dir + "/*.jsonl", "other", obs, act, d).ok());
  CHECK(d.rows == 3);
  CHECK(read_offline_input(dir + "/*.jsonl", "p", obs, act, d).message.find("no rows") != std::string::npos);
  CHECK(read_offline_input(dir + "/missing", "p", obs, act, d).code == ErrorCode::BadRequest);
  std::ofstream(dir + "/c.json") << encode_offline_line(b, act) << "\n{\"obs\": 1}\n";
  auto st = read_offline_input(dir, "other", obs, act, d);
  CHECK(st.message.find("c.json' line 2") != std::string::npos);
  // A last line cut off mid-write (no newline) is skipped and named; the rest is read.
  const auto line = encode_offline_line(b, act);
  std::ofstream(dir + "/c.json") << line << "\n" << line.substr(0, line.size() / 2);
  REQUIRE(read_offline_input(dir + "/c.json", "other", obs, act, d).ok());
  CHECK(d.rows == 3);
  CHECK(d.cut_off_last_lines == std::vector<std::string>{dir + "/c.json"});
  // A whole last line that is wrong is an error, newline or not.
  std::ofstream(dir + "/c.json") << line << "\n" << R"({"obs": [[1, 2]], "actions": [9], "rewards": [1]})";
  CHECK(read_offline_input(dir + "/c.json", "other", obs, act, d).message.find("line 2") != std::string::npos);
  // Lines of another policy are skipped unread: their spaces may differ.
  std::ofstream(dir + "/c.json") << line << "\n" << R"({"policy_id": "third", "obs": [[1, 2, 3]], "actions": [9], "rewards": [1]})" << "\n";
  REQUIRE(read_offline_input(dir + "/c.json", "other", obs, act, d).ok());
  CHECK(d.rows == 3);
  fs::remove_all(dir);
}
