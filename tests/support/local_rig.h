#pragma once
// Shared by the local-inference and integration tests: an in-process server on an ephemeral port whose
// sample queue the test can read, fast client options, a one-episode driver.
#include <chrono>
#include <cmath>
#include <set>
#include <span>
#include <thread>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include "core/action_logp.h"
#include "policy_client/policy_client.h"
#include "policy_client/upload_report.h"
#include "policy_server/server.h"
#include "policy_server/server_context.h"
#include "schemas/codec.h"

namespace tandem::test_local {

using namespace tandem;
using client::InferenceMode;
using client::PolicyClient;
using client::RequestError;
using Clock = std::chrono::steady_clock;


inline nlohmann::json config(int64_t fragment = 5, int64_t batch = 4000) {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 5, "results_dir": "test_results/local",
    "config": {"sgd_minibatch_size": 32, "num_sgd_iter": 1, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                       "action_space": {"type": "discrete", "n": 3}}}
  })");
  j["config"]["rollout_fragment_length"] = fragment;
  j["config"]["train_batch_size"] = batch;
  return j;
}

struct Running {
  explicit Running(nlohmann::json j, bool train = false, uint16_t port = 0) {
    j["port"] = port;
    auto cfg = server::parse_server_config(j);
    cfg.train = train;
    srv = std::make_unique<server::Server>(std::move(cfg));
    // Without training the queue drops fragments; these tests keep them to look at them.
    if (!train) srv->context().samples.set_accepting(true);
    srv->start();
    address = "ws://127.0.0.1:" + std::to_string(srv->port());
  }
  // Fragments pushed for training so far (kept in the queue when train=false).
  std::vector<algo::Trajectory> take(int policy = 0) {
    std::vector<int64_t> need(srv->context().config.policies.size(), 1);
    auto got = srv->context().samples.wait_take(need, std::chrono::milliseconds(500));
    return got[static_cast<size_t>(policy)];
  }
  server::ServerContext& ctx() { return srv->context(); }
  std::unique_ptr<server::Server> srv;
  std::string address;
};

inline client::ClientOptions fast_options() {
  client::ClientOptions o;
  o.update_interval_s = 0.05;
  o.reconnect_timeout_s = 10;
  o.close_timeout_s = 0.5;  // destructors facing a stopped server give up quickly
  o.seed = 7;
  return o;
}

// Runs one episode of `steps` steps with reward 1 per step; returns the actions.
inline std::vector<int64_t> run_episode(PolicyClient& c, int steps, float x = 0.1f) {
  auto ep = c.start_episode();
  std::vector<int64_t> acts;
  for (int t = 0; t < steps; ++t) {
    std::vector<float> obs{x, static_cast<float>(t) * 0.01f};
    acts.push_back(c.get_action(ep, obs).as_int());
    c.log_returns(ep, 1.f);
  }
  c.end_episode(ep, std::vector<float>{x, 0.f});
  return acts;
}

inline int64_t steps_in(const std::vector<algo::Trajectory>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.size();
  return n;
}

template <typename Pred>
inline bool eventually(Pred pred, double seconds = 10) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}


// A blocking raw WebSocket to the in-process server: bytes out, the next reply frame in.
struct BlockingSocket {
  explicit BlockingSocket(uint16_t port) : ws(ioc) {
    boost::asio::ip::tcp::resolver res(ioc);
    boost::asio::connect(ws.next_layer(), res.resolve("127.0.0.1", std::to_string(port)));
    ws.handshake("127.0.0.1", "/");
    ws.binary(true);
  }
  void write(std::span<const uint8_t> bytes) { ws.write(boost::asio::buffer(bytes.data(), bytes.size())); }
  wire::Frame read() {
    boost::beast::flat_buffer b;
    ws.read(b);
    const auto* bytes = static_cast<const uint8_t*>(b.data().data());
    return wire::Frame(bytes, bytes + b.size());
  }
  wire::Frame roundtrip(std::span<const uint8_t> bytes) {
    write(bytes);
    return read();
  }
  boost::asio::io_context ioc;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws;
};

}  // namespace tandem::test_local
