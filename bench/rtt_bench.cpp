// rtt_bench: single-client get_action round trip against a tandem-server, next to a plain
// Beast WebSocket echo of a frame of the same size measured in the same run.
//   rtt_bench --echo-server            serves echo on a free port, prints "listening on ws://..."
//   rtt_bench --server URL --echo URL  measures both (N round trips each) and prints p50/p99
//   ... --tls-server wss://URL --tls-ca CERT   also get_action over TLS (same run, same N)
//   rtt_bench --server URL --pipeline K -n N    one raw connection, K episodes: each round
//                                      sends K GetAction frames without waiting, then reads
//                                      the K replies; prints env steps/s (N rounds)
#include <algorithm>
#include <numeric>
#include <chrono>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "policy_client/policy_client.h"
#include "schemas/codec.h"

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
void echo_server() {
  net::io_context ioc;
  tcp::acceptor acc(ioc, {net::ip::make_address("127.0.0.1"), 0});
  std::cout << "listening on ws://127.0.0.1:" << acc.local_endpoint().port() << std::endl;
  for (;;) {
    tcp::socket s(ioc);
    acc.accept(s);
    s.set_option(tcp::no_delay(true));
    beast::websocket::stream<tcp::socket> ws(std::move(s));
    ws.accept();
    ws.binary(true);
    beast::flat_buffer b;
    beast::error_code ec;
    for (;;) {
      ws.read(b, ec);
      if (ec) break;
      ws.write(b.data(), ec);
      if (ec) break;
      b.consume(b.size());
    }
  }
}

void report(const char* what, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  auto q = [&](double p) { return us[static_cast<size_t>(p * static_cast<double>(us.size() - 1))]; };
  std::cout << what << ": n=" << us.size() << "  p50 " << q(0.5) << " us  p99 " << q(0.99)
            << " us  mean " << std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size())
            << " us" << std::endl;
}
// A simulator's step between two round trips: think_us of busy work (0: none). On this VM a
// server thread that slept between two requests takes ~100 us to wake; a client that answers
// within a few us finds it still spinning (docs/BENCHMARKS.md, "think time").
double g_think_us = 0;
void think() {
  if (g_think_us <= 0) return;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double, std::micro>(g_think_us);
  while (std::chrono::steady_clock::now() < end) {
  }
}
// get_action round trips on one episode (1000 warm-up calls not counted). With returns, each
// step is a simulator's: get_action, then log_returns (pipelined: it travels in the frame of
// the next get_action), timed together.
void bench_get_action(const char* what, const std::string& url, const tandem::client::ClientOptions& o, int n,
                      bool returns = false) {
  using clk = std::chrono::steady_clock;
  std::vector<float> obs{0.01f, -0.02f, 0.03f, 0.04f};
  tandem::client::PolicyClient c(url, tandem::client::InferenceMode::Remote, o);
  std::vector<double> us;
  auto ep = c.start_episode(std::nullopt, /*training_enabled=*/false);
  for (int i = 0; i < n + 1000; ++i) {
    auto t0 = clk::now();
    c.get_action(ep, obs);
    if (returns) c.log_returns(ep, 1.0f);
    if (i >= 1000) us.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
    think();
  }
  c.end_episode(ep, obs);
  c.flush();
  report(what, us);
}
// host:port of a ws:// URL.
std::pair<std::string, std::string> host_port(const std::string& url) {
  auto hp = url.substr(5);
  hp = hp.substr(0, hp.find('/'));
  const auto colon = hp.rfind(':');
  return {hp.substr(0, colon), hp.substr(colon + 1)};
}

void bench_pipeline(const std::string& url, int k, int rounds) {
  using clk = std::chrono::steady_clock;
  net::io_context ioc;
  tcp::resolver r(ioc);
  beast::websocket::stream<tcp::socket> ws(ioc);
  const auto [host, port] = host_port(url);
  net::connect(ws.next_layer(), r.resolve(host, port));
  ws.next_layer().set_option(tcp::no_delay(true));
  ws.handshake(host + ":" + port, "/");
  ws.binary(true);
  beast::flat_buffer b;
  uint64_t rid = 1;
  std::vector<std::string> eps;
  for (int i = 0; i < k; ++i) {
    eps.push_back("pipe-" + std::to_string(i));
    ws.write(net::buffer(tandem::wire::encode_request(rid++, tandem::core::StartEpisode{eps.back(), false, true})));
    ws.read(b);
    b.consume(b.size());
  }
  tandem::core::GetAction ga;
  ga.agents.push_back({"agent0", {0.01f, -0.02f, 0.03f, 0.04f}, {}});
  const auto t0 = clk::now();
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < k; ++i) {
      ga.episode_id = eps[static_cast<size_t>(i)];
      ws.write(net::buffer(tandem::wire::encode_request(rid++, ga)));
    }
    for (int i = 0; i < k; ++i) {
      ws.read(b);
      b.consume(b.size());
    }
  }
  const double s = std::chrono::duration<double>(clk::now() - t0).count();
  std::cout << "pipelined " << k << " episodes on one connection: " << rounds << " rounds, steps/s "
            << static_cast<double>(rounds) * k / s << std::endl;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"round-trip benchmark"};
  bool serve_echo = false;
  std::string server, echo, tls_server, tls_ca;
  int n = 20000;
  app.add_flag("--echo-server", serve_echo);
  app.add_option("--server", server);
  app.add_option("--echo", echo);
  app.add_option("-n", n);
  app.add_option("--tls-server", tls_server, "a wss:// tandem-server: get_action over TLS too");
  app.add_option("--tls-ca", tls_ca, "the PEM certificate (or CA) to trust for --tls-server");
  int pipeline = 0;
  app.add_option("--pipeline", pipeline, "K episodes pipelined on one raw connection (with --server)")
      ->check(CLI::Range(1, 64));
  app.add_option("--think-us", g_think_us, "busy work between round trips (a simulator's step), us")
      ->check(CLI::Range(0.0, 1e6));
  CLI11_PARSE(app, argc, argv);
  if (serve_echo) {
    echo_server();
    return 0;
  }
  if (pipeline > 0) {
    bench_pipeline(server, pipeline, n);
    return 0;
  }
  using clk = std::chrono::steady_clock;
  {
    // Echo: a 120-byte frame, about the size of a GetAction / Actions frame.
    auto hp = echo.substr(5);
    auto colon = hp.rfind(':');
    net::io_context ioc;
    tcp::resolver r(ioc);
    beast::websocket::stream<tcp::socket> ws(ioc);
    net::connect(ws.next_layer(), r.resolve(hp.substr(0, colon), hp.substr(colon + 1)));
    ws.next_layer().set_option(tcp::no_delay(true));
    ws.handshake(hp, "/");
    ws.binary(true);
    std::vector<uint8_t> frame(120, 7);
    beast::flat_buffer b;
    std::vector<double> us;
    for (int i = 0; i < n + 1000; ++i) {
      auto t0 = clk::now();
      ws.write(net::buffer(frame));
      ws.read(b);
      b.consume(b.size());
      if (i >= 1000) us.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
      think();
    }
    report("beast echo   ", us);
  }
  bench_get_action("get_action   ", server, {}, n);
  bench_get_action("step+returns ", server, {}, n, /*returns=*/true);
  if (!tls_server.empty()) {
    tandem::client::ClientOptions o;
    o.tls_ca_file = tls_ca;
    bench_get_action("get_action wss", tls_server, o, n);
  }
  return 0;
}
