// Untrusted clients, access and resources: token authentication at the handshake, a
// loopback-only default, a per-client cap on open episodes, idle connections closed, and an
// accept loop that backs off (and logs once a second) when file descriptors run out. Each
// case runs a real tandem-server process.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "policy_client/policy_client.h"
#include "support/raw_client.h"
#include "support/requests.h"
#include "support/server_process.h"

using namespace tandem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {

constexpr const char* kToken = "s3cret-token-of-the-test-0123456789";

// HTTP GET with an optional bearer token; returns the status code (0: no answer).
int http_status(uint16_t port, const std::string& target, const std::string& token = "") {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(5));
  beast::error_code ec;
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return 0;
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  http::write(stream, req, ec);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res, ec);
  return ec ? 0 : res.result_int();
}

// The HTTP status of a WebSocket upgrade (101 when accepted).
int upgrade_status(uint16_t port, const std::string& authorization) {
  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  net::ip::tcp::resolver res(ioc);
  net::connect(ws.next_layer(), res.resolve("127.0.0.1", std::to_string(port)));
  if (!authorization.empty())
    ws.set_option(websocket::stream_base::decorator(
        [authorization](websocket::request_type& r) { r.set(http::field::authorization, authorization); }));
  websocket::response_type response;
  // (The blocking handshake does not hand over a declined response; the asynchronous one does.)
  ws.async_handshake(response, "127.0.0.1", "/", [](beast::error_code) {});
  ioc.run();
  return response.result_int();
}

double metric_with_token(uint16_t port, const std::string& name) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req(http::verb::get, "/metrics", 11);
  req.set(http::field::authorization, std::string("Bearer ") + kToken);
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  auto v = test::find_metric(res.body(), name);
  REQUIRE_MESSAGE(v.has_value(), "no metric " << name);
  return *v;
}

// Runs the server binary with `args` and returns (exit code, stderr).
std::pair<int, std::string> run_server(const std::string& args) {
  const std::string err = test::results_path("untrusted_cli.stderr");
  std::filesystem::create_directories("test_results");
  const int rc = std::system((test::ServerProcess::binary() + " " + args + " >/dev/null 2>" + err).c_str());
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
}

}  // namespace

TEST_CASE("auth: without the bearer token the handshake and HTTP (but /healthz) get 401") {
  std::filesystem::create_directories("test_results");
  const std::string token_file = test::results_path("untrusted_auth.token");
  std::ofstream(token_file) << kToken << "\n";
  auto cfg = test::config_for("untrusted_auth");
  cfg["auth_token_file"] = token_file;
  test::ServerProcess s(cfg, "untrusted_auth", {"--no-train"});

  CHECK(upgrade_status(s.port(), "") == 401);
  CHECK(upgrade_status(s.port(), "Bearer wrong-token-wrong-token-wrong") == 401);
  CHECK(upgrade_status(s.port(), std::string("Bearer ") + kToken + "x") == 401);
  CHECK(upgrade_status(s.port(), kToken) == 401);  // no "Bearer "
  CHECK(upgrade_status(s.port(), std::string("Bearer ") + kToken) == 101);
  CHECK(http_status(s.port(), "/healthz") == 200);
  CHECK(http_status(s.port(), "/metrics") == 401);
  CHECK(http_status(s.port(), "/results", "nope") == 401);
  CHECK(http_status(s.port(), "/metrics", kToken) == 200);

  // The C++ client: a wrong token is refused at once (not retried); the right one works,
  // from the options or from TANDEM_TOKEN.
  client::ClientOptions o;
  o.reconnect_timeout_s = 5;
  o.auth_token = "wrong-token-wrong-token";
  const auto t0 = test::Clock::now();
  CHECK_THROWS_AS(client::PolicyClient(s.address(), client::InferenceMode::Remote, o).start_episode(),
                  client::RefusedError);
  CHECK(test::Clock::now() - t0 < std::chrono::seconds(2));
  o.auth_token = kToken;
  {
    client::PolicyClient c(s.address(), client::InferenceMode::Remote, o);
    auto ep = c.start_episode();
    CHECK(c.get_action(ep, std::vector<float>{0.f, 0.f}).discrete.size() == 1);
    c.end_episode(ep, std::vector<float>{0.f, 0.f});
    c.flush();
  }
  ::setenv("TANDEM_TOKEN", kToken, 1);
  {
    client::PolicyClient c(s.address(), client::InferenceMode::Local);
    auto ep = c.start_episode();
    CHECK(c.get_action(ep, std::vector<float>{0.f, 0.f}).discrete.size() == 1);
  }
  ::unsetenv("TANDEM_TOKEN");
  CHECK(metric_with_token(s.port(), "tandem_auth_failures_total") >= 7);
  CHECK(metric_with_token(s.port(), "tandem_episodes_total") == 1);
  // Logged with the peer address, rate-limited.
  CHECK(test::file_tail(s.dir() + "/server.stdout.log", 100000).find("missing or wrong bearer token") != std::string::npos);
}

TEST_CASE("auth: a non-loopback host needs a token or --insecure-listen-any") {
  std::filesystem::create_directories("test_results/untrusted_cli");
  const std::string cfg_path = "test_results/untrusted_cli/config.json";
  std::ofstream(cfg_path) << test::config_for("untrusted_cli").dump();
  auto [rc, err] = run_server("-c " + cfg_path + " --port 0 --host 0.0.0.0 --no-train");
  CHECK(rc == 2);
  CHECK(err.find("without authentication") != std::string::npos);
  auto [rc2, err2] = run_server("-c " + cfg_path + " --port 0 --auth-token-file /nonexistent/token --no-train");
  CHECK(rc2 == 2);
  CHECK(err2.find("auth_token_file") != std::string::npos);
  // With the flag it listens on every interface.
  test::ServerProcess s(test::config_for("untrusted_any"), "untrusted_any",
                        {"--no-train", "--host", "0.0.0.0", "--insecure-listen-any"});
  CHECK(http_status(s.port(), "/healthz") == 200);
}

TEST_CASE("one client's open episodes are capped; other clients can still start theirs") {
  auto cfg = test::config_for("untrusted_episode_cap");
  cfg["max_episodes_per_client"] = 20;
  test::ServerProcess s(cfg, "untrusted_episode_cap", {"--no-train"});
  test::RawClient greedy(s.port(), "greedy");
  uint64_t rid = 1;
  for (int i = 0; i < 20; ++i) REQUIRE(test::is<core::EpisodeStarted>(greedy.call(rid++, test::start(""))));
  auto r = greedy.call(rid++, test::start(""));
  REQUIRE(test::is_error(r, core::ErrorCode::TooManyEpisodes));
  CHECK(std::get<core::Error>(r).message.find("max_episodes_per_client=20") != std::string::npos);
  test::RawClient polite(s.port(), "polite");
  CHECK(test::started(polite.call(1, test::start("mine")), "mine"));
  // Ending one frees a place for the greedy client again.
  REQUIRE(test::is<core::Ack>(polite.call(2, test::end_episode("mine", {0.f, 0.f}))));
  CHECK(s.metric("tandem_open_episodes") == 20);
}

TEST_CASE("an idle WebSocket is closed after idle_timeout_s; an active one is not") {
  auto cfg = test::config_for("untrusted_idle");
  cfg["idle_timeout_s"] = 1.0;
  test::ServerProcess s(cfg, "untrusted_idle", {"--no-train"});
  test::RawClient idle(s.port(), "idle");
  test::RawClient active(s.port(), "active");
  for (int i = 0; i < 8; ++i) {
    REQUIRE(test::is<core::Config>(active.call(static_cast<uint64_t>(i + 1), core::GetConfig{})));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  CHECK(test::eventually([&] { return idle.closed(); }, 3));
  CHECK_FALSE(active.closed());
  CHECK(s.metric("tandem_idle_closed_total") == 1);
}

TEST_CASE("out of file descriptors: the accept loop backs off and logs once a second") {
  // The server under `ulimit -n 48`, through a wrapper (TANDEM_SERVER_BIN names the binary).
  std::filesystem::create_directories("test_results");
  const std::string wrapper = std::filesystem::absolute("test_results/ulimit_server.sh").string();
  std::ofstream(wrapper) << "#!/bin/sh\nulimit -n 48\nexec " << test::ServerProcess::binary() << " \"$@\"\n";
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  ::setenv("TANDEM_SERVER_BIN", wrapper.c_str(), 1);
  test::ServerProcess s(test::config_for("untrusted_emfile"), "untrusted_emfile", {"--no-train"});
  ::unsetenv("TANDEM_SERVER_BIN");

  std::vector<int> fds;
  for (int i = 0; i < 80; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(s.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);  // the backlog takes it
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const std::string log = s.dir() + "/server.stdout.log";  // spdlog writes to stdout
  const auto log_size = std::filesystem::file_size(log);
  for (int fd : fds) ::close(fd);
  // Once the connections are gone the server serves again.
  CHECK(test::eventually([&] { return http_status(s.port(), "/healthz") == 200; }, 10));
  CHECK(s.metric("tandem_accept_failures_total") > 5);
  std::ifstream in(log);
  int lines = 0;
  for (std::string l; std::getline(in, l);) lines += l.find("accept failed") != std::string::npos;
  CHECK(lines >= 1);
  CHECK(lines <= 6);  // ~3 s of failures, at most one line a second
  CHECK(log_size < 4000);
}
