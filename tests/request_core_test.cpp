// The request layer's guarantees seen from outside: order of a connection's requests,
// exactly-once per (client id, request id) across connections, tombstones of ended episodes,
// and a client that survives a server restart. Every server is a real tandem-server process
// (tests/support/server_process.h); clients are raw WebSocket connections with exact request
// ids (tests/support/raw_client.h) or PolicyClients; what the learner receives is read back
// from the server's samples.jsonl ("output").
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/messages.h"
#include "policy_client/policy_client.h"
#include "schemas/codec.h"
#include "support/raw_client.h"
#include "support/samples_file.h"
#include "support/server_process.h"

using namespace tandem;
using test::describe;
using test::is;
using test::RawClient;
using test::ServerProcess;

namespace {

// Box(2) observations, Discrete(3) actions, a tiny model; output and results under
// test_results/NAME.
nlohmann::json config_for(const std::string& name) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 2,
               "rollout_fragment_length": 1000, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  j["output"] = test::results_path(name) + "/output";
  return j;
}

core::AgentObs agent_obs(std::vector<float> obs, std::string agent = "agent0") {
  return core::AgentObs{std::move(agent), std::move(obs), {}};
}
core::Request start(const std::string& ep) {
  core::StartEpisode s;
  s.episode_id = ep;
  return s;
}
core::Request get_action(const std::string& ep, std::vector<float> obs) {
  core::GetAction g;
  g.episode_id = ep;
  g.agents = {agent_obs(std::move(obs))};
  return g;
}
core::Request log_action(const std::string& ep, std::vector<float> obs, int64_t action) {
  core::LogAction l;
  l.episode_id = ep;
  l.agents = {agent_obs(std::move(obs))};
  l.actions = {core::AgentAction{"agent0", {action}, {}}};
  return l;
}
core::Request log_returns(const std::string& ep, float reward) {
  core::LogReturns l;
  l.episode_id = ep;
  l.rewards = {core::AgentReward{"agent0", reward, false}};
  return l;
}
core::Request end_episode(const std::string& ep, std::vector<float> obs) {
  core::EndEpisode e;
  e.episode_id = ep;
  e.agents = {agent_obs(std::move(obs))};
  return e;
}

bool started(const core::Reply& r, const std::string& ep) {
  const auto* s = std::get_if<core::EpisodeStarted>(&r);
  return s && s->episode_id == ep;
}

const std::vector<int64_t>& discrete_actions(const core::Reply& r) {
  static const std::vector<int64_t> none;
  const auto* a = std::get_if<core::Actions>(&r);
  return a && !a->actions.empty() ? a->actions[0].discrete : none;
}

// Joins the threads on every way out of the scope (a failed REQUIRE included).
struct Joiner {
  std::vector<std::thread>& threads;
  ~Joiner() {
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

}  // namespace

TEST_CASE("pipelined requests of each connection are applied in the order they were sent") {
  // Two I/O threads, a learner that keeps up only with backpressure, fragments cut every 5
  // steps: nothing of that may reorder one connection's LogAction / LogReturns.
  const std::string name = "request_core_pipelined";
  auto j = config_for(name);
  j["io_threads"] = 2;
  j["sample_backpressure"] = true;
  j["config"]["train_batch_size"] = 64;
  j["config"]["sgd_minibatch_size"] = 32;
  j["config"]["num_sgd_iter"] = 4;
  j["config"]["rollout_fragment_length"] = 5;
  ServerProcess server(j, name);  // trains

  constexpr int kClients = 4, kEpisodes = 15, kSteps = 12;
  auto episode_id = [](int c, int e) { return "c" + std::to_string(c) + "-e" + std::to_string(e); };
  std::vector<std::exception_ptr> failures(kClients);
  std::vector<int> bad_replies(kClients, 0);
  std::vector<std::string> first_bad(kClients);
  std::vector<std::thread> threads;
  {
    Joiner joiner{threads};
    for (int c = 0; c < kClients; ++c) {
      threads.emplace_back([&, c] {
        try {
          // Two clients name themselves; two are known by their connection only.
          RawClient client(server.port(), c < 2 ? "pipeline-" + std::to_string(c) : "");
          uint64_t rid = 0;
          std::vector<uint64_t> rids;
          std::map<uint64_t, std::string> starts;  // request id -> episode it starts
          for (int e = 0; e < kEpisodes; ++e) {
            const std::string ep = episode_id(c, e);
            client.send(++rid, start(ep));
            rids.push_back(rid);
            starts[rid] = ep;
            for (int k = 0; k < kSteps; ++k) {
              client.send(++rid, log_action(ep, {k / 100.f, e / 100.f}, k % 3));
              rids.push_back(rid);
              client.send(++rid, log_returns(ep, static_cast<float>(k + 1)));
              rids.push_back(rid);
            }
            client.send(++rid, end_episode(ep, {0.5f, 0.5f}));
            rids.push_back(rid);
          }
          const auto replies = client.read_all_for(rids, 90);
          for (size_t i = 0; i < rids.size(); ++i) {
            const auto it = starts.find(rids[i]);
            const bool ok = it != starts.end() ? started(replies[i], it->second) : is<core::Ack>(replies[i]);
            if (!ok && bad_replies[c]++ == 0)
              first_bad[c] = "request " + std::to_string(rids[i]) + " got " + describe(replies[i]);
          }
        } catch (...) {
          failures[c] = std::current_exception();
        }
      });
    }
  }
  for (auto& f : failures)
    if (f) std::rethrow_exception(f);
  for (int c = 0; c < kClients; ++c)
    CHECK_MESSAGE(bad_replies[c] == 0, "client " << c << ": " << bad_replies[c]
                                                 << " wrong replies, the first: " << first_bad[c]);

  CHECK(server.metric_reaches("tandem_episodes_total", kClients * kEpisodes) == kClients * kEpisodes);
  CHECK(server.metric("tandem_timesteps_total") == kClients * kEpisodes * kSteps);
  CHECK(server.metric("tandem_open_episodes") == 0);
  CHECK(server.stop() == 0);

  const auto all = test::read_samples(server.samples_path());
  CHECK(all.size() == static_cast<size_t>(kClients * kEpisodes * 3));
  for (int c = 0; c < kClients; ++c) {
    for (int e = 0; e < kEpisodes; ++e) {
      const std::string ep = episode_id(c, e);
      CAPTURE(ep);
      const auto frags = test::fragments_of(all, ep);
      // rollout_fragment_length 5: cut when the 6th and the 11th step arrive.
      REQUIRE(frags.size() == 3);
      CHECK(frags[0].size() == 5);
      CHECK(frags[1].size() == 5);
      CHECK(frags[2].size() == 2);
      CHECK_FALSE(frags[0].terminated);
      CHECK_FALSE(frags[1].terminated);
      CHECK(frags[2].terminated);
      const auto steps = test::concat(frags);
      std::vector<std::vector<float>> obs;
      std::vector<float> rewards;
      std::vector<int64_t> actions;
      for (int k = 0; k < kSteps; ++k) {
        obs.push_back({k / 100.f, e / 100.f});
        rewards.push_back(static_cast<float>(k + 1));
        actions.push_back(k % 3);
      }
      CHECK_MESSAGE(steps.obs == obs, "obs " << test::str(steps.obs));
      CHECK_MESSAGE(steps.rewards == rewards, "rewards " << test::str(steps.rewards));
      CHECK_MESSAGE(steps.actions == actions, "actions " << test::str(steps.actions));
      CHECK(steps.agent_id == "agent0");
      CHECK(steps.policy_id == "p");
    }
  }
}

TEST_CASE("a GetAction resent on a new connection while the original is held gets the original's reply, applied once") {
  // A learner far slower than the simulator: with backpressure, GetAction replies are held
  // while a whole train batch waits for it.
  const std::string name = "request_core_resend_held";
  auto j = config_for(name);
  j["sample_backpressure"] = true;
  j["config"]["train_batch_size"] = 32;
  j["config"]["sgd_minibatch_size"] = 16;
  j["config"]["num_sgd_iter"] = 400;
  j["config"]["rollout_fragment_length"] = 4;
  j["config"]["model"]["fcnet_hiddens"] = {256, 256};
  ServerProcess server(j, name);  // trains

  const std::string id = "dup-client";
  RawClient a(server.port(), id);
  constexpr int kMaxSteps = 600, kEpisodeLength = 8;
  uint64_t rid = 0;
  int64_t total_steps = 0;
  std::map<std::string, int64_t> steps_of;  // distinct GetActions sent per episode
  std::string held_episode;
  for (int e = 0; held_episode.empty() && total_steps < kMaxSteps; ++e) {
    const std::string ep = "dup-e" + std::to_string(e);
    REQUIRE(started(a.call(++rid, start(ep)), ep));
    for (int k = 0; k < kEpisodeLength; ++k) {
      const wire::Frame frame = wire::encode_request(++rid, get_action(ep, {k / 10.f, e / 100.f}));
      a.send_bytes(frame);
      ++total_steps;
      ++steps_of[ep];
      if (held_episode.empty() && !a.readable_within(0.05)) {
        held_episode = ep;
        // The same client on a new connection sends the byte-identical frame: it waits for
        // the original's reply and gets the same one.
        RawClient b(server.port(), id);
        b.send_bytes(frame);
        const auto rb = b.expect(rid, 60);
        const auto ra = a.expect(rid, 60);
        REQUIRE_MESSAGE(is<core::Actions>(ra), describe(ra));
        REQUIRE_MESSAGE(is<core::Actions>(rb), describe(rb));
        CHECK(discrete_actions(rb) == discrete_actions(ra));
        CHECK(std::get<core::Actions>(rb).policy_version == std::get<core::Actions>(ra).policy_version);
      } else {
        const auto r = a.expect(rid, 60);
        REQUIRE_MESSAGE(is<core::Actions>(r), describe(r));
      }
      const auto ack = a.call(++rid, log_returns(ep, 1.f), 60);
      REQUIRE_MESSAGE(is<core::Ack>(ack), describe(ack));
    }
    const auto ack = a.call(++rid, end_episode(ep, {0.f, 0.f}), 60);
    REQUIRE_MESSAGE(is<core::Ack>(ack), describe(ack));
  }
  REQUIRE_MESSAGE(!held_episode.empty(),
                  "no GetAction was held within " << kMaxSteps << " steps: the learner was never behind");

  CHECK(server.metric_reaches("tandem_agent_timesteps_total", static_cast<double>(total_steps)) ==
        static_cast<double>(total_steps));
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  CAPTURE(held_episode);
  CHECK(test::steps_in(test::fragments_of(all, held_episode)) == steps_of[held_episode]);
  CHECK(test::steps_in(all) == total_steps);
  for (const auto& [ep, n] : steps_of) {
    CAPTURE(ep);
    CHECK(test::steps_in(test::fragments_of(all, ep)) == n);
  }
}

TEST_CASE("EndEpisode for an ended episode is acknowledged, resent or not; the episode stays ended") {
  const std::string name = "request_core_end_resend";
  ServerProcess server(config_for(name), name, {"--no-train"});
  wire::Frame end_frame = wire::encode_request(4, end_episode("e3", {0.3f, 0.4f}));
  {
    RawClient c1(server.port(), "end-client");
    REQUIRE(started(c1.call(1, start("e3")), "e3"));
    REQUIRE(is<core::Actions>(c1.call(2, get_action("e3", {0.1f, 0.2f}))));
    REQUIRE(is<core::Ack>(c1.call(3, log_returns("e3", 1.f))));
    c1.send_bytes(end_frame);
    const auto r = c1.expect(4);
    REQUIRE_MESSAGE(is<core::Ack>(r), describe(r));
  }
  // (a) The same client resends the identical frame on a new connection.
  RawClient c2(server.port(), "end-client");
  c2.send_bytes(end_frame);
  auto r = c2.expect(4);
  CHECK_MESSAGE(is<core::Ack>(r), "resent EndEpisode: " << describe(r));
  // ... or ends it again under a new request id.
  r = c2.call(5, end_episode("e3", {0.3f, 0.4f}));
  CHECK_MESSAGE(is<core::Ack>(r), "EndEpisode again: " << describe(r));
  // (b) Another client ends the ended episode.
  RawClient c3(server.port(), "another-client");
  r = c3.call(1, end_episode("e3", {0.3f, 0.4f}));
  CHECK_MESSAGE(is<core::Ack>(r), "another client's EndEpisode: " << describe(r));
  // Nobody acts in it again.
  r = c3.call(2, get_action("e3", {0.1f, 0.2f}));
  CHECK_MESSAGE(test::is_error(r, core::ErrorCode::UnknownEpisode), describe(r));
  r = c2.call(6, get_action("e3", {0.1f, 0.2f}));
  CHECK_MESSAGE(test::is_error(r, core::ErrorCode::UnknownEpisode), describe(r));

  CHECK(server.metric("tandem_episodes_total") == 1);
  CHECK(server.metric("tandem_open_episodes") == 0);
  CHECK(server.metric("tandem_timesteps_total") == 1);
  CHECK(server.stop() == 0);
  const auto frags = test::fragments_of(test::read_samples(server.samples_path()), "e3");
  REQUIRE(frags.size() == 1);
  CHECK(frags[0].rewards == std::vector<float>{1.f});
  CHECK(frags[0].terminated);
}

TEST_CASE("a StartEpisode without an id resent on a new connection gets the same generated id") {
  const std::string name = "request_core_start_resend";
  ServerProcess server(config_for(name), name, {"--no-train"});
  const wire::Frame frame = wire::encode_request(1, core::Request{core::StartEpisode{}});
  RawClient c1(server.port(), "start-client");
  c1.send_bytes(frame);
  const auto r1 = c1.expect(1);
  REQUIRE_MESSAGE(is<core::EpisodeStarted>(r1), describe(r1));
  const std::string id = std::get<core::EpisodeStarted>(r1).episode_id;
  CHECK_FALSE(id.empty());

  RawClient c2(server.port(), "start-client");
  c2.send_bytes(frame);
  const auto r2 = c2.expect(1);
  REQUIRE_MESSAGE(is<core::EpisodeStarted>(r2), describe(r2));
  CHECK(std::get<core::EpisodeStarted>(r2).episode_id == id);
  CHECK(server.metric("tandem_open_episodes") == 1);

  // Request 1 of another client is its own request: a second episode.
  RawClient c3(server.port(), "start-client-2");
  c3.send_bytes(frame);
  const auto r3 = c3.expect(1);
  REQUIRE_MESSAGE(is<core::EpisodeStarted>(r3), describe(r3));
  CHECK(std::get<core::EpisodeStarted>(r3).episode_id != id);
  CHECK(server.metric("tandem_open_episodes") == 2);

  // The generated episode is usable, from the connection that did not start it too.
  const auto a = c2.call(2, get_action(id, {0.f, 0.f}));
  CHECK_MESSAGE(is<core::Actions>(a), describe(a));
}

TEST_CASE("a request that reuses a request id with other bytes is refused, not answered from the ledger") {
  const std::string name = "request_core_reused_id";
  ServerProcess server(config_for(name), name, {"--no-train"});
  // The reply a request reusing id 7 may get: its own kind, or BadRequest naming the id.
  auto own_or_refused = [](const core::Reply& r, auto own, const char* request) {
    using Own = decltype(own);
    if (is<Own>(r)) return;
    const auto* e = std::get_if<core::Error>(&r);
    CHECK_MESSAGE(e != nullptr, request << " reusing request id 7 got " << describe(r));
    if (!e) return;
    CHECK_MESSAGE(e->code == core::ErrorCode::BadRequest, request << ": " << describe(r));
    CHECK_MESSAGE(e->message.find("request id") != std::string::npos, request << ": " << describe(r));
  };
  // With a client id, and identified by the connection alone.
  for (const std::string client_id : {"reuser", ""}) {
    CAPTURE(client_id);
    const std::string ep = "reuse-" + (client_id.empty() ? std::string("conn") : client_id);
    RawClient c(server.port(), client_id);
    const auto r1 = c.call(7, start(ep));
    REQUIRE_MESSAGE(started(r1, ep), describe(r1));
    const auto r2 = c.call(7, get_action(ep, {0.1f, 0.1f}));
    // Right after the StartEpisode it was given to, id 7 cannot mean a GetAction.
    CHECK_MESSAGE(test::is_error(r2, core::ErrorCode::BadRequest), "GetAction: " << describe(r2));
    own_or_refused(r2, core::Actions{}, "GetAction");
    own_or_refused(c.call(7, log_returns(ep, 1.f)), core::Ack{}, "LogReturns");
    own_or_refused(c.call(7, get_action(ep, {0.2f, 0.2f})), core::Actions{}, "second GetAction");
    own_or_refused(c.call(7, end_episode(ep, {0.3f, 0.3f})), core::Ack{}, "EndEpisode");
  }
  // A client that counts its ids up is not disturbed by any of that.
  RawClient normal(server.port(), "normal-client");
  REQUIRE(started(normal.call(1, start("normal")), "normal"));
  auto r = normal.call(2, get_action("normal", {0.1f, 0.1f}));
  CHECK_MESSAGE(is<core::Actions>(r), describe(r));
  r = normal.call(3, log_returns("normal", 1.f));
  CHECK_MESSAGE(is<core::Ack>(r), describe(r));
  r = normal.call(4, get_action("normal", {0.2f, 0.2f}));
  CHECK_MESSAGE(is<core::Actions>(r), describe(r));
  r = normal.call(5, log_returns("normal", 2.f));
  CHECK_MESSAGE(is<core::Ack>(r), describe(r));
  r = normal.call(6, end_episode("normal", {0.3f, 0.3f}));
  CHECK_MESSAGE(is<core::Ack>(r), describe(r));
  CHECK(server.stop() == 0);
  const auto frags = test::fragments_of(test::read_samples(server.samples_path()), "normal");
  REQUIRE(frags.size() == 1);
  CHECK(frags[0].rewards == std::vector<float>{1.f, 2.f});
}

TEST_CASE("two clients with overlapping request ids hand one episode over to each other") {
  const std::string name = "request_core_hand_over";
  ServerProcess server(config_for(name), name, {"--no-train"});
  RawClient a(server.port(), "hand-a"), b(server.port(), "hand-b");
  uint64_t rid_a = 0, rid_b = 0;
  REQUIRE(started(a.call(++rid_a, start("shared")), "shared"));
  // b's first request is a read, so that from here on both send GetAction and LogReturns
  // under the same request ids, in the same episode.
  const auto cfg = b.call(++rid_b, core::GetConfig{});
  REQUIRE_MESSAGE(is<core::Config>(cfg), describe(cfg));
  constexpr int kSteps = 8;
  for (int t = 0; t < kSteps; ++t) {
    RawClient& c = t % 2 == 0 ? a : b;
    uint64_t& rid = t % 2 == 0 ? rid_a : rid_b;
    CAPTURE(t);
    auto r = c.call(++rid, get_action("shared", {t / 100.f, 0.5f}));
    CHECK_MESSAGE(is<core::Actions>(r), describe(r));
    r = c.call(++rid, log_returns("shared", static_cast<float>(t + 1)));
    CHECK_MESSAGE(is<core::Ack>(r), describe(r));
  }
  const auto r = a.call(++rid_a, end_episode("shared", {0.f, 0.f}));
  CHECK_MESSAGE(is<core::Ack>(r), describe(r));
  CHECK(server.metric("tandem_timesteps_total") == kSteps);
  CHECK(server.stop() == 0);

  const auto steps = test::concat(test::fragments_of(test::read_samples(server.samples_path()), "shared"));
  std::vector<std::vector<float>> obs;
  std::vector<float> rewards;
  for (int t = 0; t < kSteps; ++t) {
    obs.push_back({t / 100.f, 0.5f});
    rewards.push_back(static_cast<float>(t + 1));
  }
  CHECK_MESSAGE(steps.obs == obs, "obs " << test::str(steps.obs));
  CHECK_MESSAGE(steps.rewards == rewards, "rewards " << test::str(steps.rewards));
  CHECK(steps.terminated);
}

TEST_CASE("ReportSamples of two clients under one request id are both applied; a resend is not") {
  const std::string name = "request_core_report_samples";
  ServerProcess server(config_for(name), name, {"--no-train"});
  // A valid upload: 3 steps of agent0, uniform logits, so every log-prob is -log(3).
  auto report = [](const std::string& ep) {
    core::ReportSamples r;
    r.episode_id = ep;
    r.weights_version = 0;
    r.env_steps = 3;
    r.episode_done = true;
    r.episode_reward = 3;
    r.episode_length = 3;
    r.agent_rewards = {core::AgentReward{"agent0", 3.f, false}};
    core::AgentFragment f;
    f.agent_id = "agent0";
    auto& t = f.steps;
    t.obs_dim = 2;
    t.obs = {0.f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    t.actions = {0, 1, 2};
    t.action_logp = std::vector<float>(3, static_cast<float>(-std::log(3.0)));
    t.vf_preds = {0.5f, 0.5f, 0.5f};
    t.dist_inputs = std::vector<float>(9, 0.f);
    t.rewards = {1.f, 1.f, 1.f};
    t.terminated = true;
    r.fragments.push_back(std::move(f));
    return core::Request{std::move(r)};
  };
  const double before = server.metric("tandem_timesteps_total");
  CHECK(before == 0);
  const wire::Frame f1 = wire::encode_request(42, report("rs-1"));
  const wire::Frame f2 = wire::encode_request(42, report("rs-2"));
  RawClient r1(server.port(), "r1"), r2(server.port(), "r2");
  r1.send_bytes(f1);
  auto r = r1.expect(42);
  CHECK_MESSAGE(is<core::SamplesAccepted>(r), describe(r));
  r2.send_bytes(f2);
  r = r2.expect(42);
  CHECK_MESSAGE(is<core::SamplesAccepted>(r), describe(r));
  CHECK(server.metric("tandem_timesteps_total") == before + 6);
  // r1 resends its frame, on its connection and on a new one: answered, not applied again.
  r1.send_bytes(f1);
  r = r1.expect(42);
  CHECK_MESSAGE(is<core::SamplesAccepted>(r), describe(r));
  {
    RawClient again(server.port(), "r1");
    again.send_bytes(f1);
    r = again.expect(42);
    CHECK_MESSAGE(is<core::SamplesAccepted>(r), describe(r));
  }
  CHECK(server.metric("tandem_timesteps_total") == before + 6);
  CHECK(server.metric("tandem_episodes_total") == 2);
  CHECK(server.stop() == 0);
  const auto all = test::read_samples(server.samples_path());
  CHECK(test::steps_in(test::fragments_of(all, "rs-1")) == 3);
  CHECK(test::steps_in(test::fragments_of(all, "rs-2")) == 3);
  CHECK(all.size() == 2);
}

TEST_CASE("a remote client carries on across a restart of the server process on the same port") {
  const std::string name = "request_core_restart";
  ServerProcess server(config_for(name), name, {"--no-train"});
  client::ClientOptions opts;
  opts.reconnect_timeout_s = 20;
  client::PolicyClient pc(server.address(), client::InferenceMode::Remote, opts);
  constexpr int kEpisodes = 300, kLength = 20;
  std::atomic<int> finished{0}, recovered{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string failure;
  std::vector<std::thread> threads;
  {
    Joiner joiner{threads};
    threads.emplace_back([&] {
      try {
        for (int e = 0; e < kEpisodes; ++e) {
          try {
            const auto ep = pc.start_episode();
            std::vector<float> obs{0.f, 0.f};
            for (int t = 0; t < kLength; ++t) {
              const auto a = pc.get_action(ep, obs);
              obs = {obs[0] * 0.9f + static_cast<float>(a.as_int() - 1) * 0.1f,
                     static_cast<float>(t + 1) / kLength};
              pc.log_returns(ep, 1.f);
            }
            pc.end_episode(ep, obs);
          } catch (const client::RequestError& err) {
            // The restarted server does not know the episode open before: start a new one.
            if (err.code != "UnknownEpisode") throw;
            ++recovered;
          }
          ++finished;
        }
        try {
          pc.flush();
        } catch (const client::RequestError& err) {
          if (err.code != "UnknownEpisode") throw;
          ++recovered;
        }
      } catch (const std::exception& err) {
        std::lock_guard lk(mu);
        failure = err.what();
        failed = true;
      }
    });
    const bool midway = test::eventually([&] { return finished.load() >= kEpisodes / 2 || failed.load(); }, 30);
    CHECK_MESSAGE(midway, "the client did not get half way within 30 s");
    if (midway && !failed) server.restart_on_same_port();
  }
  {
    std::lock_guard lk(mu);
    CHECK_MESSAGE(!failed, failure);
  }
  CHECK(finished == kEpisodes);
  CHECK(pc.reconnects() >= 1);
  MESSAGE("episodes abandoned because of the restart: " << recovered.load());
  CHECK(server.metric("tandem_episodes_total") > 0);
}
