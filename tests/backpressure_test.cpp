// A client that never reads its replies: the server stops reading from it, and stops
// handing its pipelined requests over (bounded write queue), instead of queueing replies
// without bound, and keeps serving everyone else. Real server process; the hostile client is a plain blocking
// WebSocket with a send timeout.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "policy_client/policy_client.h"
#include "schemas/codec.h"
#include "support/proc_stats.h"
#include "support/raw_client.h"
#include "support/requests.h"
#include "support/server_process.h"

using namespace tandem;

namespace {
// A plain blocking WebSocket to the server (binary frames), for clients that misbehave.
boost::beast::websocket::stream<boost::asio::ip::tcp::socket> plain_websocket(boost::asio::io_context& ioc, int port) {
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws(ioc);
  boost::asio::ip::tcp::resolver res(ioc);
  boost::asio::connect(ws.next_layer(), res.resolve("127.0.0.1", std::to_string(port)));
  ws.handshake("127.0.0.1", "/");
  ws.binary(true);
  return ws;
}
}  // namespace

TEST_CASE("a client that never reads its replies is pushed back; others are still served") {
  namespace net = boost::asio;
  auto cfg = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 1,
    "config": {"model": {"fcnet_hiddens": [64, 64]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [4]},
                       "action_space": {"type": "discrete", "n": 2}}}
  })");
  cfg["results_dir"] = test::results_path("backpressure") + "/results";
  test::ServerProcess s(cfg, "backpressure", {"--no-train"});
  const int64_t rss_before = test::rss_kib(s.pid());

  net::io_context ioc;
  auto ws = plain_websocket(ioc, s.port());
  // Each GetConfig is ~60 bytes and its reply (the config JSON) a few KB, each GetWeights
  // ~60 bytes and its reply ~40 KB: 100,000 unread replies would hold hundreds of MB (GB)
  // if the server kept reading.
  core::Request request = core::GetConfig{};
  SUBCASE("GetConfig") {}
  SUBCASE("GetWeights") { request = core::GetWeights{"p", -1}; }
  constexpr int kMax = 100000;
  int sent = 0;
  for (; sent < kMax; ++sent) {
    // A write that does not finish within 0.3 s: the server has stopped reading us.
    auto f = wire::encode_request(static_cast<uint64_t>(sent + 1), request);
    bool done = false;
    ws.async_write(net::buffer(f), [&](boost::beast::error_code, std::size_t) { done = true; });
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(300));
    if (!done) break;
  }
  std::fprintf(stderr, "frames written before the server stopped reading: %d\n", sent);
  CHECK(sent < kMax);
  const int64_t rss_after = test::rss_kib(s.pid());
  std::fprintf(stderr, "server RSS %lld KiB -> %lld KiB\n", static_cast<long long>(rss_before), static_cast<long long>(rss_after));
  CHECK(rss_after - rss_before < 64 * 1024);  // well under what the unread replies would take

  // Everyone else is served meanwhile.
  client::PolicyClient good(s.address());
  auto ep = good.start_episode();
  for (int i = 0; i < 10; ++i) good.get_action(ep, std::vector<float>{0.1f, 0.f, 0.f, 0.f});
  good.end_episode(ep, std::vector<float>{0, 0, 0, 0});
  good.flush();
  CHECK(test::eventually([&] { return s.metric("tandem_episodes_total") == 1; }));
}

TEST_CASE("replies of requests pipelined behind a held one stay within the write-queue bound") {
  // The head of a pipeline is held (a GetAction while serving pauses for a busy learner);
  // behind it, 63 GetWeights of a 2 MB model that the client never reads. Their replies may
  // be encoded while the head is held, but never more than the write queue's 4 MiB: the
  // server stops handing requests over instead (before the fix: +140 MiB here).
  namespace net = boost::asio;
  using test::RawClient;
  const std::string name = "backpressure_pipelined_weights";
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3, "sample_ahead_steps": 0,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 300,
               "rollout_fragment_length": 8, "model": {"fcnet_hiddens": [512, 512]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  test::ServerProcess server(j, name);  // trains
  // A driver steps until its GetAction is held: the learner is training.
  RawClient driver(server.port(), "driver");
  uint64_t rid = 0;
  REQUIRE(test::started(driver.call(++rid, test::start("d")), "d"));
  bool held = false;
  for (int t = 0; t < 400 && !held; ++t) {
    driver.send(++rid, test::get_action("d", {0.1f, 0.2f}));
    if (!driver.readable_within(0.1)) {
      held = true;
      break;
    }
    REQUIRE(test::is<core::Actions>(driver.expect(rid)));
    REQUIRE(test::is<core::Ack>(driver.call(++rid, test::log_returns("d", 1.f))));
  }
  REQUIRE_MESSAGE(held, "no GetAction was held: the learner was never behind");

  net::io_context ioc;
  auto ws = plain_websocket(ioc, server.port());
  ws.write(net::buffer(wire::encode_request(1, test::start("h"))));
  boost::beast::flat_buffer b;
  ws.read(b);
  const int64_t rss0 = test::rss_kib(server.pid());
  ws.write(net::buffer(wire::encode_request(2, test::get_action("h", {0.f, 0.f}))));  // held too
  for (uint64_t k = 0; k < 63; ++k) ws.write(net::buffer(wire::encode_request(3 + k, core::GetWeights{"p", -1})));
  // The held requests are answered once the learner is done; the hostile client reads nothing.
  REQUIRE(driver.readable_within(60));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const int64_t rss1 = test::rss_kib(server.pid());
  MESSAGE("server RSS " << rss0 << " KiB -> " << rss1 << " KiB");
  CHECK(rss1 - rss0 < 40 * 1024);  // 63 replies would take ~130 MiB
  // The driver is served on.
  REQUIRE(test::is<core::Actions>(driver.expect(rid)));
  REQUIRE(test::is<core::Ack>(driver.call(++rid, test::log_returns("d", 1.f))));
}

TEST_CASE("a bad frame behind replies that fill the write queue is answered in order") {
  // GetWeights of a 2 MB model fill the write queue before the client reads; text and
  // garbage frames among them get their BadFrame errors in order, and the server serves on
  // (an entry answered at decoding must be stepped over even while the write queue is full.
  // A review found that the server indexed out of bounds there; this test did not reproduce
  // it before the fix, since it depends on when the writes drain, but it does check the order).
  namespace net = boost::asio;
  const std::string name = "backpressure_bad_frame_behind";
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 3,
    "config": {"model": {"fcnet_hiddens": [512, 512]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
  j["results_dir"] = test::results_path(name) + "/results";
  test::ServerProcess server(j, name, {"--no-train"});
  net::io_context ioc;
  auto ws = plain_websocket(ioc, server.port());
  // Four rounds of two GetWeights and a bad frame (text, then garbage, alternately), all
  // written before anything is read.
  std::vector<std::string> expected;
  const std::vector<uint8_t> junk(64, 0xAB);
  uint64_t rid = 0;
  for (int round = 0; round < 4; ++round) {
    for (int k = 0; k < 2; ++k) {
      ws.write(net::buffer(wire::encode_request(++rid, core::GetWeights{"p", -1})));
      expected.push_back("Weights");
    }
    if (round % 2 == 0) {
      ws.text(true);
      ws.write(net::buffer(std::string("not a FlatBuffer")));
      ws.binary(true);
    } else {
      ws.write(net::buffer(junk));
    }
    expected.push_back("BadFrame");
  }
  std::vector<std::string> got;
  boost::beast::flat_buffer b;
  while (got.size() < expected.size()) {
    ws.read(b);
    const auto* p = static_cast<const uint8_t*>(b.data().data());
    auto d = wire::decode_reply(std::span<const uint8_t>(p, b.size()));
    b.consume(b.size());
    REQUIRE_MESSAGE(d.status.ok(), d.status.message);
    if (const auto* w = std::get_if<core::Weights>(&d.reply)) {
      if (w->chunk_index + 1 < w->num_chunks) continue;  // the rest of a chunked reply
      got.push_back("Weights");
    } else if (const auto* e = std::get_if<core::Error>(&d.reply)) {
      got.push_back(core::error_code_name(e->code));
    } else {
      got.push_back(core::reply_name(d.reply));
    }
  }
  CHECK(got == expected);
  CHECK(server.metric("tandem_io_errors_total") == 0);
  client::PolicyClient good(server.address());
  auto ep = good.start_episode();
  good.get_action(ep, std::vector<float>{0.1f, 0.f});
}
