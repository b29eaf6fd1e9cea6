// Vectorised frames (VectorRequest / PolicyClient::step): the steps of many episodes in one
// frame must mean exactly what the same steps sent as single calls mean. Every case runs
// against a real tandem-server process (--no-train, "output" set) and compares what reaches
// its learner (experience output) and its counters (/metrics).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/request_checks.h"
#include "policy_client/policy_client.h"
#include "policy_client/vector_step.h"
#include "schemas/codec.h"
#include "support/raw_client.h"
#include "support/requests.h"
#include "support/samples_file.h"
#include "support/server_process.h"

using namespace tandem;
using client::InferenceMode;
using client::PolicyClient;
using client::RequestError;
using client::VectorStep;
using test::ServerProcess;

namespace {

constexpr int kEpisodes = 4;

nlohmann::json vector_config(const std::string& name) {
  auto j = test::config_for(name);
  j["config"]["rollout_fragment_length"] = 2;  // fragments are cut inside the episodes
  return j;
}

client::ClientOptions options() { return test::client_options(5); }

// Episode i: length 3 + i; step t sees obs(i, t) and then gets reward(i, t); odd episodes
// terminate, even ones are truncated (bootstrapped from V(last obs)).
int length(int i) { return 3 + i; }
std::vector<float> obs(int i, int t) { return {0.1f * static_cast<float>(t), -0.1f * static_cast<float>(i)}; }
float reward(int i, int t) { return static_cast<float>(t) + 0.5f * static_cast<float>(i); }
bool truncated(int i) { return i % 2 == 0; }
std::string id(const std::string& prefix, int i) { return prefix + "-" + std::to_string(i); }

// The episodes one after another, each call a request of its own.
void drive_single(PolicyClient& c, const std::string& prefix) {
  for (int i = 0; i < kEpisodes; ++i) {
    const auto ep = c.start_episode(id(prefix, i));
    for (int t = 0; t < length(i); ++t) {
      c.get_action(ep, obs(i, t));
      c.log_returns(ep, reward(i, t));
    }
    c.end_episode(ep, obs(i, length(i)), truncated(i));
  }
  c.flush();
}

// The same episodes side by side: one frame per env step of all of them (what the last step
// produced, the ends, then the actions), as a vectorised simulator sends them.
void drive_vector(PolicyClient& c, const std::string& prefix) {
  VectorStep s;
  for (int i = 0; i < kEpisodes; ++i) s.start_episode(id(prefix, i));
  for (int t = 0;; ++t) {
    bool any = false;
    for (int i = 0; i < kEpisodes; ++i) {
      if (t > 0 && t <= length(i)) s.log_returns(id(prefix, i), reward(i, t - 1));
      if (t == length(i)) s.end_episode(id(prefix, i), obs(i, t), truncated(i));
      if (t < length(i)) {
        s.get_action(id(prefix, i), obs(i, t));
        any = true;
      }
    }
    const auto r = c.step(s);
    CHECK(r.actions.size() == s.num_get_actions());
    s.clear();
    if (!any) break;
  }
  c.flush();
}

void check_same_samples(const std::vector<test::SampleLine>& all, const std::string& a, const std::string& b) {
  for (int i = 0; i < kEpisodes; ++i) {
    CAPTURE(i);
    const auto fa = test::fragments_of(all, id(a, i));
    const auto fb = test::fragments_of(all, id(b, i));
    REQUIRE(fa.size() == fb.size());
    CHECK(fa.size() == static_cast<size_t>((length(i) + 1) / 2));  // cut every 2 steps
    for (size_t k = 0; k < fa.size(); ++k) {
      CAPTURE(k);
      CHECK(fa[k].obs == fb[k].obs);
      CHECK_MESSAGE(fa[k].rewards == fb[k].rewards, test::str(fa[k].rewards) << " vs " << test::str(fb[k].rewards));
      CHECK(fa[k].terminated == fb[k].terminated);
      CHECK(fa[k].bootstrap_value == doctest::Approx(fb[k].bootstrap_value).epsilon(1e-5));
      REQUIRE(fa[k].vf_preds.size() == fb[k].vf_preds.size());
      for (size_t t = 0; t < fa[k].vf_preds.size(); ++t)
        CHECK(fa[k].vf_preds[t] == doctest::Approx(fb[k].vf_preds[t]).epsilon(1e-5));
    }
    const auto whole = test::concat(fa);
    CHECK(whole.terminated == !truncated(i));
    CHECK(whole.size() == length(i));
  }
}

}  // namespace

namespace {
void same_as_single(int io_threads) {
  CAPTURE(io_threads);
  const std::string name = "vector_same_as_single_io" + std::to_string(io_threads);
  auto config = vector_config(name);
  config["io_threads"] = io_threads;
  ServerProcess server(config, name, {"--no-train"});
  int64_t steps = 0;
  double reward_sum = 0;
  for (int i = 0; i < kEpisodes; ++i) {
    steps += length(i);
    for (int t = 0; t < length(i); ++t) reward_sum += reward(i, t);
  }
  for (auto mode : {InferenceMode::Remote, InferenceMode::Local}) {
    const std::string m = mode == InferenceMode::Remote ? "remote" : "local";
    CAPTURE(m);
    PolicyClient c(server.address(), mode, options());
    drive_single(c, m + "-single");
    drive_vector(c, m + "-vector");
  }
  // Four runs of the same episodes: counters and the reward mean as four single runs.
  CHECK(server.metric_reaches("tandem_episodes_total", 4 * kEpisodes) == 4 * kEpisodes);
  CHECK(server.metric("tandem_timesteps_total") == 4 * steps);
  CHECK(server.metric("tandem_episode_reward_mean") == doctest::Approx(reward_sum / kEpisodes));
  CHECK(server.metric("tandem_vector_entries_total") > 0);
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  check_same_samples(all, "remote-single", "remote-vector");
  check_same_samples(all, "local-single", "local-vector");
  check_same_samples(all, "remote-single", "local-vector");
}
}  // namespace

TEST_CASE("a vectorised frame gives exactly the fragments, rewards and counters of the same steps as single calls") {
  same_as_single(1);
  // Two I/O threads: batcher flushes complete a frame's actions on either thread.
  same_as_single(2);
}

TEST_CASE("entries of one episode in one frame apply in frame order, also after an action in flight") {
  const std::string name = "vector_order_in_frame";
  ServerProcess server(vector_config(name), name, {"--no-train"});
  for (auto mode : {InferenceMode::Remote, InferenceMode::Local}) {
    const std::string m = mode == InferenceMode::Remote ? "remote" : "local";
    CAPTURE(m);
    PolicyClient c(server.address(), mode, options());
    // A whole episode in ONE frame: every LogReturns must wait for the GetAction before it.
    VectorStep s;
    const auto ep = s.start_episode(m + "-one-frame");
    for (int t = 0; t < 3; ++t) {
      s.get_action(ep, obs(0, t));
      s.log_returns(ep, 1.f + static_cast<float>(t));
    }
    s.end_episode(ep, obs(0, 3));
    const auto r = c.step(s);
    CHECK(r.actions.size() == 3);
    c.flush();
  }
  CHECK(server.metric_reaches("tandem_episodes_total", 2) == 2);
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  for (const std::string m : {"remote", "local"}) {
    CAPTURE(m);
    const auto f = test::concat(test::fragments_of(all, m + "-one-frame"));
    CHECK_MESSAGE((f.rewards == std::vector<float>{1.f, 2.f, 3.f}), test::str(f.rewards));
    CHECK(f.obs == std::vector<std::vector<float>>{obs(0, 0), obs(0, 1), obs(0, 2)});
    CHECK(f.terminated);
  }
}

TEST_CASE("a failing entry gets its own Error and changes nothing; the others apply") {
  const std::string name = "vector_entry_errors";
  ServerProcess server(vector_config(name), name, {"--no-train"});
  PolicyClient c(server.address(), InferenceMode::Remote, options());
  VectorStep s;
  const auto good = s.start_episode("good");
  s.get_action(good, obs(0, 0));
  s.get_action("never-started", obs(0, 0));                      // UnknownEpisode
  const std::vector<float> wrong_size{1.f, 2.f, 3.f};
  s.get_action(good, wrong_size);                                // BadObservation
  s.log_returns(good, 2.f);
  try {
    c.step(s);
    FAIL("step() did not throw");
  } catch (const client::StepError& e) {
    CHECK(e.code == "UnknownEpisode");
    CHECK(e.request == "entry 2 GetAction(never-started)");
    CHECK(std::string(e.what()).find("and 1 more") != std::string::npos);
    CHECK(e.failed == 2);
    REQUIRE(e.reply.actions.size() == 3);  // the good get_action's action is kept
    CHECK(e.reply.action(0).discrete.size() == 1);
    CHECK(e.reply.actions[1].empty());
    CHECK(e.reply.actions[2].empty());
  }
  c.end_episode(good, obs(0, 1));
  c.flush();
  CHECK(server.metric_reaches("tandem_episodes_total", 1) == 1);
  CHECK(server.metric("tandem_timesteps_total") == 1);  // the good GetAction only
  CHECK(server.metric("tandem_episode_reward_mean") == doctest::Approx(2.0));
  CHECK(server.stop() == 0);
}

TEST_CASE("a VectorRequest is one request for the ledger; its bounds refuse it whole") {
  const std::string name = "vector_ledger_bounds";
  ServerProcess server(vector_config(name), name, {"--no-train"});
  test::RawClient c(server.port(), "vector-raw");
  core::VectorRequest v;
  v.entries.push_back(core::StartEpisode{"e1"});
  v.entries.push_back(core::GetAction{"e1", {test::agent_obs(obs(0, 0))}});
  v.entries.push_back(core::LogReturns{"e1", {{"agent0", 1.f, false}}});
  const auto frame = wire::encode_request(1, v);
  c.send_bytes(frame);
  const auto first = c.expect(1);
  REQUIRE_MESSAGE(test::is<core::VectorReply>(first), test::describe(first));
  const auto& replies = std::get<core::VectorReply>(first).replies;
  REQUIRE(replies.size() == 3);
  CHECK(std::holds_alternative<core::EpisodeStarted>(replies[0]));
  CHECK(std::holds_alternative<core::Actions>(replies[1]));
  CHECK(std::holds_alternative<core::Ack>(replies[2]));
  // A resend of the same bytes: the original's reply, nothing applied twice.
  c.send_bytes(frame);
  const auto again = c.expect(1);
  CHECK(wire::encode_reply_frame(1, again) == wire::encode_reply_frame(1, first));
  CHECK(server.metric("tandem_timesteps_total") == 1);

  // Too many entries, or too many agents over all entries: refused whole, nothing applied.
  core::VectorRequest big;
  for (size_t i = 0; i <= core::kMaxEntriesPerVector; ++i) big.entries.push_back(core::LogReturns{"e1", {{"agent0", 1.f, false}}});
  auto r = c.call(2, big);
  CHECK_MESSAGE(test::is_error(r, core::ErrorCode::BadRequest), test::describe(r));
  core::VectorRequest wide;
  std::vector<core::AgentObs> agents;
  for (int a = 0; a < 1000; ++a) agents.push_back(test::agent_obs(obs(0, 0), "a" + std::to_string(a)));
  for (int i = 0; i < 9; ++i) wide.entries.push_back(core::GetAction{"e1", agents});
  r = c.call(3, wide);
  CHECK_MESSAGE(test::is_error(r, core::ErrorCode::BadRequest), test::describe(r));
  // A bad id in one entry fails that entry alone; the good one before it applies.
  core::VectorRequest bad_id;
  bad_id.entries.push_back(core::LogReturns{"e1", {{"agent0", 1.f, false}}});
  bad_id.entries.push_back(core::LogReturns{std::string(300, 'x'), {}});
  r = c.call(4, bad_id);
  REQUIRE_MESSAGE(test::is<core::VectorReply>(r), test::describe(r));
  const auto& rs = std::get<core::VectorReply>(r).replies;
  REQUIRE(rs.size() == 2);
  CHECK(std::holds_alternative<core::Ack>(rs[0]));
  REQUIRE(std::holds_alternative<core::Error>(rs[1]));
  CHECK(std::get<core::Error>(rs[1]).code == core::ErrorCode::BadRequest);
  CHECK(server.metric("tandem_timesteps_total") == 1);
  c.call(5, core::EndEpisode{"e1", {test::agent_obs(obs(0, 1))}, false, {}});
  CHECK(server.metric_reaches("tandem_episodes_total", 1) == 1);
  // 1 (first frame) + 1 (entry 0 of the last frame); the resend added nothing.
  CHECK(server.metric("tandem_episode_reward_mean") == doctest::Approx(2.0));
  CHECK(server.stop() == 0);
}

TEST_CASE("a remote client sends held log_returns in the frame of its next call; their errors come with the call after") {
  const std::string name = "vector_held_calls";
  ServerProcess server(vector_config(name), name, {"--no-train"});
  PolicyClient c(server.address(), InferenceMode::Remote, options());
  const auto ep = c.start_episode("held");
  c.get_action(ep, obs(0, 0));
  c.log_returns(ep, 1.f);
  CHECK(server.metric("tandem_vector_entries_total") == 0);  // held in the client
  c.get_action(ep, obs(0, 1));                                // one frame: LogReturns + GetAction
  CHECK(server.metric("tandem_vector_entries_total") == 2);
  c.log_returns("not-open", 1.f);                             // fails on the server...
  c.log_returns(ep, 2.f);
  c.get_action(ep, obs(0, 2));                                // ...this call still succeeds
  try {
    c.log_returns(ep, 3.f);
    FAIL("the held call's error was not thrown by the next call");
  } catch (const RequestError& e) {
    CHECK(e.code == "UnknownEpisode");
    CHECK(e.request == "LogReturns(not-open)");
  }
  c.log_returns(ep, 3.f);
  c.end_episode(ep, obs(0, 3));  // sent at once: the server sees the end without a flush
  CHECK(server.metric_reaches("tandem_episodes_total", 1) == 1);
  CHECK(server.metric("tandem_timesteps_total") == 3);
  CHECK(server.metric("tandem_episode_reward_mean") == doctest::Approx(6.0));
  c.flush();
  CHECK(server.stop() == 0);
  const auto f = test::concat(test::fragments_of(test::read_samples(server.samples_path()), "held"));
  CHECK_MESSAGE((f.rewards == std::vector<float>{1.f, 2.f, 3.f}), test::str(f.rewards));
}

TEST_CASE("held calls never make a frame over the server's bounds") {
  const std::string name = "vector_held_bounds";
  ServerProcess server(vector_config(name), name, {"--no-train"});
  auto o = options();
  o.reconnect_timeout_s = 3;  // an oversized frame would loop on reconnects until this
  PolicyClient c(server.address(), InferenceMode::Remote, o);
  const auto ep = c.start_episode("big");
  c.get_action(ep, obs(0, 0));
  // 40 held LogActions of 400 KB each (wrong size: each is refused on its own) are 16 MB
  // together, twice the frame limit: the client sends them in several frames.
  const std::vector<float> huge(100000, 0.f);
  for (int i = 0; i < 40; ++i) c.log_action(ep, huge, client::Action{{1}, {}});
  CHECK_NOTHROW(c.get_action(ep, obs(0, 1)));
  try {
    c.flush();
    FAIL("the refused LogActions' errors were not thrown");
  } catch (const RequestError& e) {
    CHECK(e.code == "BadObservation");
  }
  CHECK(c.reconnects() == 0);
  CHECK(server.metric("tandem_timesteps_total") == 2);
  CHECK(server.stop() == 0);
}
