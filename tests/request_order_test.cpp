// The request layer's guarantees seen from outside, part 1: order of a connection's
// requests, and resends that get the original's reply (held GetAction, ended episodes,
// generated episode ids). Every server is a real tandem-server process; clients are raw
// WebSocket connections with exact request ids; what the learner receives is read back
// from the server's experience output ("output").
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

TEST_CASE("pipelined requests of each connection are applied in the order they were sent") {
  // Two I/O threads, a learner that keeps up only with backpressure, fragments cut every 5
  // steps: nothing of that may reorder one connection's LogAction / LogReturns.
  const std::string name = "request_core_pipelined";
  auto j = config_for(name);
  j["io_threads"] = 2;
  j["sample_backpressure"] = true;
  j["config"]["train_batch_size"] = 64;
  j["config"]["sgd_minibatch_size"] = 32;
  j["config"]["num_sgd_iter"] = 30;  // a learner slow enough that serving must wait for it
  j["config"]["model"]["fcnet_hiddens"] = {64, 64};
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
  const double holds = server.metric("tandem_backpressure_holds_total");
  MESSAGE("backpressure holds: " << holds);
  CHECK(holds > 0);  // serving did pause for the learner during the run
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
