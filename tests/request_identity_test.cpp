// The request layer's guarantees seen from outside, part 2: request ids are scoped to the
// client that sent them (a reused id, two clients on one episode, ReportSamples of two
// clients under one id), and a remote client survives a restart of the server process.
#include <doctest/doctest.h>

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
#include "support/requests.h"

using namespace tandem;
using namespace tandem::test;

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

TEST_CASE("two PolicyClients given the same client_id never share a duplicate window") {
  // Each client object adds a random incarnation to the name, so their request ids (random
  // starts, well past the ledger's 128-request window) never collide or look forgotten.
  const std::string name = "request_core_same_name";
  ServerProcess server(config_for(name), name, {"--no-train"});
  client::ClientOptions o;
  o.client_id = "simulator";
  constexpr int kEpisodes = 30, kSteps = 10;  // 30 * (1 + 2 * 10 + 1) requests per client
  auto drive = [&](client::PolicyClient& c, const std::string& tag) {
    for (int e = 0; e < kEpisodes; ++e) {
      const auto ep = c.start_episode(tag + std::to_string(e));
      for (int t = 0; t < kSteps; ++t) {
        c.get_action(ep, std::vector<float>{0.f, 0.f});  // the same bytes from both clients
        c.log_returns(ep, 1.f);
      }
      c.end_episode(ep, std::vector<float>{0.f, 0.f});
    }
    c.flush();
  };
  client::PolicyClient a(server.address(), client::InferenceMode::Remote, o);
  client::PolicyClient b(server.address(), client::InferenceMode::Remote, o);
  std::string failure;
  std::thread tb([&] {
    try {
      drive(b, "b");
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  CHECK_NOTHROW(drive(a, "a"));
  tb.join();
  CHECK_MESSAGE(failure.empty(), failure);
  { client::PolicyClient again(server.address(), client::InferenceMode::Remote, o);  // a restarted simulator
    CHECK_NOTHROW(drive(again, "r")); }
  CHECK(server.metric_reaches("tandem_episodes_total", 3 * kEpisodes) == 3 * kEpisodes);
  CHECK(server.metric("tandem_timesteps_total") == 3 * kEpisodes * kSteps);
  CHECK_THROWS_AS(client::PolicyClient(server.address(), client::InferenceMode::Remote,
                                       [] {
                                         client::ClientOptions bad;
                                         bad.client_id = "has/slash";
                                         return bad;
                                       }()),
                  std::invalid_argument);
}
