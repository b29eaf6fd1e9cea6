// Local inference: PolicyClient(InferenceMode::Local) against in-process servers on
// ephemeral ports. Actions are computed in the client; fragments arrive through ReportSamples
// exactly once and feed the same pipeline as remote episodes.
#include <doctest/doctest.h>

#include "support/local_rig.h"

using namespace tandem;
using namespace tandem::test_local;

TEST_CASE("local client: fragments of the configured length, behaviour data from its model") {
  Running r(config(/*fragment=*/5));
  PolicyClient c(r.address, InferenceMode::Local, fast_options());
  CHECK(c.mode() == InferenceMode::Local);
  run_episode(c, 12);
  c.flush();
  auto ts = r.take();
  REQUIRE(ts.size() == 3);
  CHECK(ts[0].size() == 5);
  CHECK(ts[1].size() == 5);
  CHECK(ts[2].size() == 2);
  CHECK_FALSE(ts[0].terminated);
  CHECK(ts[0].bootstrap_value == ts[1].vf_preds[0]);  // cut at the next step, its value
  CHECK(ts[2].terminated);
  for (const auto& t : ts) CHECK(t.rewards == std::vector<float>(t.size(), 1.f));

  // The client's weights are the server's: the server's model gives the same distribution
  // and value, and the logged log-prob is the one of the chosen action.
  auto model = r.ctx().policies.model(0);
  const auto& space = r.ctx().config.policies[0].action_space;
  std::mt19937_64 rng(1);
  std::vector<algo::ActionResult> out;
  const uint8_t greedy = 0;
  for (int i = 0; i < 5; ++i) {
    std::span<const float> o(ts[0].obs.data() + i * 2, 2);
    model->compute_actions(o, 1, {}, {&greedy, 1}, rng, out);
    CHECK(out[0].vf_pred == doctest::Approx(ts[0].vf_preds[i]).epsilon(1e-4));
    for (int k = 0; k < 3; ++k)
      CHECK(out[0].dist_inputs[k] == doctest::Approx(ts[0].dist_inputs[i * 3 + k]).epsilon(1e-4));
    std::span<const int64_t> a(ts[0].actions.data() + i, 1);
    CHECK(ts[0].action_logp[i] ==
          doctest::Approx(algo::action_logp(space, out[0].dist_inputs, a, {})).epsilon(1e-4));
  }
  // Steps and episodes count in the results exactly like remote ones.
  auto m = r.ctx().stats.peek();
  CHECK(m.timesteps_total == 12);
  CHECK(m.agent_timesteps_total == 12);
  CHECK(m.episodes_total == 1);
  CHECK(m.episode_reward.mean == doctest::Approx(12.0));
  CHECK(m.episode_len_mean == doctest::Approx(12.0));
  auto s = c.local_stats();
  CHECK(s.uploaded_steps == 12);
  CHECK(s.dropped_steps == 0);
  CHECK(s.buffered_steps == 0);
}

TEST_CASE("local client: bad input is refused at once, like the server would") {
  Running r(config());
  PolicyClient c(r.address, InferenceMode::Local, fast_options());
  auto ep = c.start_episode("e1");
  CHECK_THROWS_AS(c.start_episode("e1"), RequestError);
  std::vector<float> nan{NAN, 0.f};
  try {
    c.get_action(ep, nan);
    FAIL("NaN observation accepted");
  } catch (const RequestError& e) {
    CHECK(e.code == "BadObservation");
    CHECK(std::string(e.what()).find("NaN") != std::string::npos);
  }
  try {
    c.get_action("nope", std::vector<float>{0.f, 0.f});
    FAIL("unknown episode accepted");
  } catch (const RequestError& e) {
    CHECK(e.code == "UnknownEpisode");
  }
  CHECK_THROWS_AS(c.get_action(ep, std::vector<float>{0.f}), RequestError);
  // The episode is still usable.
  c.get_action(ep, std::vector<float>{0.f, 0.f});
  c.end_episode(ep, std::vector<float>{0.f, 0.f});
  c.flush();
  CHECK(r.ctx().stats.peek().timesteps_total == 1);
}

TEST_CASE("local client: explore=false episodes act greedily and are not trained on") {
  Running r(config());
  PolicyClient c(r.address, InferenceMode::Local, fast_options());
  auto ep = c.start_episode(std::nullopt, /*training_enabled=*/false, /*explore=*/false);
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i) seen.insert(c.get_action(ep, std::vector<float>{0.3f, -0.3f}).as_int());
  c.end_episode(ep, std::vector<float>{0.f, 0.f});
  c.flush();
  CHECK(seen.size() == 1);
  CHECK(r.take().empty());
  auto m = r.ctx().stats.peek();
  CHECK(m.timesteps_total == 50);
}

TEST_CASE("local client: the weight version advances while the server trains") {
  Running r(config(/*fragment=*/16, /*batch=*/64), /*train=*/true);
  PolicyClient c(r.address, InferenceMode::Local, fast_options());
  CHECK(c.local_stats().weights_version == 0);
  const bool advanced = eventually([&] {
    run_episode(c, 20);
    return c.local_stats().weights_version >= 2;
  });
  CHECK(advanced);
  CHECK(r.ctx().training_iteration.load() >= 2);
  c.flush();
  auto s = c.local_stats();
  CHECK(s.weight_updates >= 2);
  CHECK(s.uploaded_steps == r.ctx().stats.peek().agent_timesteps_total);
  CHECK(s.dropped_steps == 0);
}

TEST_CASE("local and remote clients on one server at once") {
  Running r(config(/*fragment=*/16, /*batch=*/128), /*train=*/true);
  PolicyClient local(r.address, InferenceMode::Local, fast_options());
  PolicyClient remote(r.address);
  std::thread t([&] {
    for (int i = 0; i < 20; ++i) run_episode(remote, 15, -0.2f);
  });
  for (int i = 0; i < 20; ++i) run_episode(local, 15, 0.2f);
  t.join();
  local.flush();
  remote.flush();
  auto m = r.ctx().stats.peek();
  CHECK(m.timesteps_total == 2 * 20 * 15);
  CHECK(m.episodes_total == 40);
  CHECK(eventually([&] { return r.ctx().training_iteration.load() >= 4; }));
}

TEST_CASE("local client survives a server restart and resumes uploading") {
  auto first = std::make_unique<Running>(config(/*fragment=*/5));
  const auto port = first->srv->port();
  auto opts = fast_options();
  opts.max_block_s = 0.2;
  PolicyClient c(first->address, InferenceMode::Local, opts);
  for (int i = 0; i < 3; ++i) run_episode(c, 10);
  c.flush();
  CHECK(first->ctx().stats.peek().timesteps_total == 30);
  first->srv->stop();
  first.reset();

  // No server: the client keeps acting with its last weights and buffers the experience.
  const auto t0 = Clock::now();
  for (int i = 0; i < 2; ++i) run_episode(c, 10);
  CHECK(Clock::now() - t0 < std::chrono::seconds(2));
  CHECK(eventually([&] { return !c.local_stats().connected; }, 5));

  Running second(config(/*fragment=*/5), /*train=*/false, port);
  c.flush();  // waits until the buffered reports are accepted by the new server
  auto m = second.ctx().stats.peek();
  CHECK(m.timesteps_total == 20);  // exactly once: nothing lost, nothing doubled
  CHECK(m.episodes_total == 2);
  CHECK(steps_in(second.take()) == 20);
  auto s = c.local_stats();
  CHECK(s.connected);
  CHECK(s.reconnects >= 1);
  CHECK(s.dropped_steps == 0);
  run_episode(c, 10);
  c.flush();
  CHECK(second.ctx().stats.peek().timesteps_total == 30);
}

TEST_CASE("local client: a full buffer drops the oldest experience and counts it") {
  auto srv = std::make_unique<Running>(config(/*fragment=*/5));
  auto opts = fast_options();
  opts.max_buffered_steps = 20;
  opts.max_block_s = 0.2;
  opts.close_timeout_s = 0.2;
  opts.reconnect_timeout_s = 1;  // flush() gives up after this
  PolicyClient c(srv->address, InferenceMode::Local, opts);
  srv->srv->stop();
  srv.reset();
  const auto t0 = Clock::now();
  for (int i = 0; i < 10; ++i) run_episode(c, 10);
  CHECK(Clock::now() - t0 < std::chrono::seconds(3));  // never blocked for long
  auto s = c.local_stats();
  CHECK(s.buffered_steps <= 20);
  CHECK(s.dropped_steps >= 100 - 20 - 5);  // at most one report in the uploader's hands
  CHECK(s.dropped_steps % 5 == 0);
  CHECK_THROWS_AS(c.flush(), client::ConnectionError);
}

TEST_CASE("local client: after training, its weights are the server's (same greedy actions)") {
  Running r(config(/*fragment=*/16, /*batch=*/64), /*train=*/true);
  PolicyClient c(r.address, InferenceMode::Local, fast_options());
  CHECK(eventually([&] { run_episode(c, 20); return c.local_stats().weights_version >= 3; }));
  c.flush();
  // No more samples: training stops; the client's background poll catches up with the server.
  auto model = r.ctx().policies.model(0);
  CHECK(eventually([&] {
    model = r.ctx().policies.model(0);
    return model->version() == c.local_stats().weights_version;
  }));
  auto ep = c.start_episode(std::nullopt, false, false);
  std::mt19937_64 rng(1);
  std::vector<algo::ActionResult> out;
  const uint8_t greedy = 0;
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    std::vector<float> o{std::sin(i * 1.f), std::cos(i * 0.7f)};
    auto a = c.get_action(ep, o).as_int();
    model->compute_actions(o, 1, {}, {&greedy, 1}, rng, out);
    if (a != out[0].discrete[0]) ++differ;
  }
  CHECK(differ == 0);
}

TEST_CASE("local client: a server that accepts but never answers does not block for ever") {
  namespace beast = boost::beast;
  namespace net = boost::asio;
  // A WebSocket endpoint that completes the handshake and then reads nothing.
  net::io_context ioc;
  net::ip::tcp::acceptor acc(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const auto port = acc.local_endpoint().port();
  std::atomic<bool> done{false};
  std::thread silent([&] {
    net::ip::tcp::socket s(ioc);
    acc.accept(s);
    beast::websocket::stream<net::ip::tcp::socket> ws(std::move(s));
    ws.accept();
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  client::ClientOptions o;
  o.reconnect_timeout_s = 0.5;
  const auto t0 = Clock::now();
  CHECK_THROWS_AS(PolicyClient("ws://127.0.0.1:" + std::to_string(port), InferenceMode::Local, o),
                  client::ConnectionError);
  CHECK(Clock::now() - t0 < std::chrono::seconds(3));
  done = true;
  silent.join();
}

TEST_CASE("local client: Box and MultiDiscrete actions are accepted by the server's checks") {
  for (const char* action_space : {R"({"type": "box", "shape": [2], "low": -1, "high": 1})",
                                   R"({"type": "multi_discrete", "nvec": [3, 4]})"}) {
    auto j = config(/*fragment=*/4);
    j["policies"]["p"]["action_space"] = nlohmann::json::parse(action_space);
    Running r(j);
    PolicyClient c(r.address, InferenceMode::Local, fast_options());
    auto ep = c.start_episode();
    for (int t = 0; t < 10; ++t) {
      auto a = c.get_action(ep, std::vector<float>{0.1f * t, -0.2f});
      CHECK(a.continuous.size() + a.discrete.size() == 2);
      c.log_returns(ep, 0.5f);
    }
    c.end_episode(ep, std::vector<float>{0.f, 0.f}, /*truncated=*/true);
    c.flush();
    CHECK(c.local_stats().rejected_reports == 0);
    auto ts = r.take();
    CHECK(steps_in(ts) == 10);
    REQUIRE_FALSE(ts.empty());
    CHECK_FALSE(ts.back().terminated);  // truncated: bootstrapped from V(last obs)
    CHECK(r.ctx().stats.peek().episodes_total == 1);
  }
}

TEST_CASE("local client: after a restart it takes the new server's weights, even numbered lower") {
  auto first = std::make_unique<Running>(config(/*fragment=*/16, /*batch=*/64), /*train=*/true);
  const auto port = first->srv->port();
  auto opts = fast_options();
  opts.max_block_s = 0.2;
  PolicyClient c(first->address, InferenceMode::Local, opts);
  CHECK(eventually([&] { run_episode(c, 20); return c.local_stats().weights_version >= 2; }));
  c.flush();
  first->srv->stop();
  first.reset();
  auto j = config(/*fragment=*/16, /*batch=*/64);
  j["seed"] = 99;  // other initial weights, version 0
  Running second(j, /*train=*/false, port);
  run_episode(c, 20);  // its upload finds the new server
  CHECK(eventually([&] {
    auto s = c.local_stats();
    return s.reconnects >= 1 && s.weights_version == 0;
  }));
  auto model = second.ctx().policies.model(0);
  auto ep = c.start_episode(std::nullopt, false, false);
  std::mt19937_64 rng(1);
  std::vector<algo::ActionResult> out;
  const uint8_t greedy = 0;
  int differ = 0;
  for (int i = 0; i < 50; ++i) {
    std::vector<float> o{std::sin(i * 1.3f), std::cos(i * 0.9f)};
    model->compute_actions(o, 1, {}, {&greedy, 1}, rng, out);
    if (c.get_action(ep, o).as_int() != out[0].discrete[0]) ++differ;
  }
  CHECK(differ == 0);
}

TEST_CASE("local client, multi-agent: mapping, per-agent rewards and done flags as in remote mode") {
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "results_dir": "test_results/local_ma",
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "model": {"fcnet_hiddens": [8]}},
    "policies": {
      "p1": {"observation_space": {"type": "multi_discrete", "nvec": [4, 4]}, "action_space": {"type": "discrete", "n": 4}},
      "p2": {"observation_space": {"type": "multi_discrete", "nvec": [4, 4]}, "action_space": {"type": "discrete", "n": 4}}},
    "policy_mapping": {"agent1": "p1", "agent2": "p2"}
  })");
  Running r(j);
  PolicyClient c(r.address, InferenceMode::Local, fast_options());
  auto ep = c.start_episode();
  client::AgentObs both{{"agent1", {0, 3}}, {"agent2", {3, 0}}};
  CHECK_THROWS_AS(c.get_action(ep, client::AgentObs{{"agent3", {0, 0}}}), RequestError);
  auto acts = c.get_action(ep, both);
  REQUIRE(acts.size() == 2);
  c.log_returns(ep, {{"agent1", 1.f}, {"agent2", -0.1f}});
  c.get_action(ep, both);
  c.log_returns(ep, {{"agent1", -1.f}, {"agent2", 1.f}}, {{"agent1", true}});
  CHECK_THROWS_AS(c.get_action(ep, client::AgentObs{{"agent1", {0, 1}}}), RequestError);
  c.get_action(ep, client::AgentObs{{"agent2", {1, 2}}});
  c.log_returns(ep, {{"agent2", 2.f}});
  c.end_episode(ep, client::AgentObs{{"agent2", {1, 2}}});
  c.flush();
  auto got = r.ctx().samples.wait_take({1, 1}, std::chrono::milliseconds(500));
  REQUIRE(got[0].size() == 1);
  CHECK(got[0][0].rewards == std::vector<float>{1.f, -1.f});
  CHECK(got[0][0].terminated);
  CHECK(got[0][0].obs.size() == 2 * 8);  // preprocessed on the server: one-hot MultiDiscrete
  CHECK(got[0][0].obs[0] == 1.f);
  CHECK(got[0][0].obs[4 + 3] == 1.f);
  REQUIRE(got[1].size() == 1);
  CHECK(got[1][0].rewards == std::vector<float>{-0.1f, 1.f, 2.f});
  auto m = r.ctx().stats.peek();
  CHECK(m.policy_reward_mean.at("p1") == doctest::Approx(0.0));
  CHECK(m.policy_reward_mean.at("p2") == doctest::Approx(2.9));
  CHECK(m.timesteps_total == 3);
  CHECK(m.agent_timesteps_total == 5);
}

namespace {
// A TCP proxy in front of a server; stall() makes it swallow the server's replies, so the
// client sees a server that accepted its request and never answers.
struct StallingProxy {
  using tcp = boost::asio::ip::tcp;
  explicit StallingProxy(uint16_t target)
      : acc(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread = std::thread([this, target] {
      tcp::socket c(ioc), s(ioc);
      boost::system::error_code ec;
      acc.accept(c, ec);
      if (ec) return;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), target}, ec);
      std::thread up([&] { pipe(c, s, false); });
      pipe(s, c, true);
      up.join();
    });
  }
  ~StallingProxy() {
    boost::system::error_code ec;
    acc.close(ec);
    thread.join();
  }
  void pipe(tcp::socket& from, tcp::socket& to, bool stallable) {
    std::vector<char> buf(1 << 16);
    boost::system::error_code ec;
    for (;;) {
      const size_t n = from.read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      if (stallable && stalled) continue;
      boost::asio::write(to, boost::asio::buffer(buf.data(), n), ec);
      if (ec) break;
    }
    from.shutdown(tcp::socket::shutdown_both, ec);
    to.shutdown(tcp::socket::shutdown_both, ec);
  }
  uint16_t port() const { return acc.local_endpoint().port(); }
  boost::asio::io_context ioc;
  tcp::acceptor acc;
  std::atomic<bool> stalled{false};
  std::thread thread;
};
}  // namespace

TEST_CASE("local client: a server that stops answering blocks neither the simulator nor the destructor") {
  Running r(config(/*fragment=*/5));
  StallingProxy proxy(r.srv->port());
  auto opts = fast_options();
  opts.max_block_s = 0.3;
  opts.close_timeout_s = 0.3;
  auto c = std::make_unique<PolicyClient>("ws://127.0.0.1:" + std::to_string(proxy.port()),
                                          InferenceMode::Local, opts);
  run_episode(*c, 10);
  c->flush();
  CHECK(r.ctx().stats.peek().timesteps_total == 10);
  proxy.stalled = true;
  const auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) run_episode(*c, 10);  // 40+ reports; the first one hangs
  CHECK(Clock::now() - t0 < std::chrono::seconds(2));   // waited max_block_s once, not per report
  CHECK(c->local_stats().buffered_steps > 0);
  const auto t1 = Clock::now();
  c.reset();
  CHECK(Clock::now() - t1 < std::chrono::seconds(4));   // close_timeout_s, then the socket is shut
}
