// A client that never reads its replies: the server stops reading from it (bounded write
// queue, one request at a time) instead of queueing replies without bound, and keeps
// serving everyone else. Real server process; the hostile client is a plain blocking
// WebSocket with a send timeout.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "policy_client/policy_client.h"
#include "schemas/codec.h"
#include "support/proc_stats.h"
#include "support/server_process.h"

using namespace tandem;

TEST_CASE("a client that never reads its replies is pushed back; others are still served") {
  namespace net = boost::asio;
  namespace websocket = boost::beast::websocket;
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
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  net::ip::tcp::resolver res(ioc);
  net::connect(ws.next_layer(), res.resolve("127.0.0.1", std::to_string(s.port())));
  ws.handshake("127.0.0.1", "/");
  ws.binary(true);
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
