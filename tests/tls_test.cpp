// TLS: a real tandem-server process with --tls-cert-file / --tls-key-file serves wss:// and
// https:// on one port. Certificates are throw-away self-signed ones that the openssl CLI
// makes at test time (nothing secret is committed). Checks: a PolicyClient round trip pinned
// to the certificate (also by name, and across a server restart), https GET, plain clients
// failing fast against the TLS port, an untrusted or misnamed certificate refused at once,
// TLS with a token, and the config errors.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "policy_client/connection.h"
#include "policy_client/policy_client.h"
#include "support/requests.h"
#include "support/server_process.h"

using namespace tandem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr const char* kToken = "tls-test-token-0123456789abcdef";

struct CertFiles {
  std::string cert, key;
};

// A fresh self-signed certificate (EC P-256, one day) for `san` (e.g. "IP:127.0.0.1,DNS:localhost").
CertFiles make_cert(const std::string& name, const std::string& san = "IP:127.0.0.1,DNS:localhost") {
  const std::string dir = test::results_path("tls_certs");
  std::filesystem::create_directories(dir);
  CertFiles f{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                          " -subj /CN=localhost -addext subjectAltName=" + san + " -keyout " + f.key +
                          " -out " + f.cert + " >" + dir + "/" + name + ".log 2>&1";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "openssl failed: " << test::file_tail(dir + "/" + name + ".log"));
  return f;
}

std::vector<std::string> tls_args(const CertFiles& c) {
  return {"--no-train", "--tls-cert-file", c.cert, "--tls-key-file", c.key};
}

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
  std::string error;
};

// GET https://127.0.0.1:PORT/TARGET, trusting only `ca_file`.
HttpResult https_get(uint16_t port, const std::string& target, const std::string& ca_file,
                     const std::string& token = "") {
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  HttpResult r;
  beast::error_code ec;
  beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (!ec) stream.handshake(ssl::stream_base::client, ec);
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, std::string("Bearer ") + token);
  if (!ec) http::write(stream, req, ec);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buf, res, ec);
  if (ec) {
    r.error = ec.message();
    return r;
  }
  r.status = res.result_int();
  r.body = res.body();
  stream.shutdown(ec);  // the server's close_notify (or a truncation: both fine)
  return r;
}

// Plain HTTP to the port: how long until the server closes, and whether anything came back.
std::pair<double, bool> plain_http_get(uint16_t port) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(10));
  const auto t0 = test::Clock::now();
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req(http::verb::get, "/healthz", 11);
  req.set(http::field::host, "127.0.0.1");
  beast::error_code ec;
  http::write(stream, req, ec);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buf, res, ec);
  return {std::chrono::duration<double>(test::Clock::now() - t0).count(), !ec};
}

client::ClientOptions pinned(const CertFiles& c, double reconnect_timeout_s = 10) {
  client::ClientOptions o;
  o.tls_ca_file = c.cert;
  o.reconnect_timeout_s = reconnect_timeout_s;
  return o;
}

double seconds_since(test::Clock::time_point t0) {
  return std::chrono::duration<double>(test::Clock::now() - t0).count();
}

void round_trip(client::PolicyClient& c) {
  auto ep = c.start_episode();
  CHECK(c.get_action(ep, std::vector<float>{0.1f, -0.2f}).discrete.size() == 1);
  c.log_returns(ep, 1.0f);
  CHECK(c.get_action(ep, std::vector<float>{0.2f, -0.1f}).discrete.size() == 1);
  c.end_episode(ep, std::vector<float>{0.f, 0.f});
  c.flush();
}

// Runs the server binary with `args`; returns (exit code, stderr).
std::pair<int, std::string> run_server(const std::string& args) {
  const std::string err = test::results_path("tls_cli.stderr");
  std::filesystem::create_directories("test_results");
  const int rc = std::system((test::ServerProcess::binary() + " " + args + " >/dev/null 2>" + err).c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, test::file_tail(err)};
}

}  // namespace

TEST_CASE("tls: wss:// and https:// on one port; plain clients and untrusted certificates fail fast") {
  const auto cert = make_cert("server");
  const auto other = make_cert("other");
  test::ServerProcess s(test::config_for("tls_serve"), "tls_serve", tls_args(cert));
  REQUIRE(s.address().rfind("wss://", 0) == 0);

  // A round trip pinned to the server's self-signed certificate, by address and by name.
  {
    client::PolicyClient c(s.address(), client::InferenceMode::Remote, pinned(cert));
    round_trip(c);
  }
  {
    client::PolicyClient c("wss://localhost:" + std::to_string(s.port()), client::InferenceMode::Remote,
                           pinned(cert));
    round_trip(c);
  }
  // HTTPS on the same port.
  auto h = https_get(s.port(), "/healthz", cert.cert);
  CHECK_MESSAGE(h.status == 200, h.error);
  CHECK(h.body == "ok\n");
  auto m = https_get(s.port(), "/metrics", cert.cert);
  REQUIRE_MESSAGE(m.status == 200, m.error);
  CHECK(test::find_metric(m.body, "tandem_episodes_total") == 2);

  // Plain HTTP to the TLS port: the handshake fails on the first bytes and the server closes.
  auto [took, answered] = plain_http_get(s.port());
  CHECK_FALSE(answered);
  CHECK(took < 2.0);
  // A plain ws:// client: ConnectionError once its reconnect_timeout_s (1 s) is spent.
  {
    client::ClientOptions o;
    o.reconnect_timeout_s = 1;
    const auto t0 = test::Clock::now();
    CHECK_THROWS_AS(client::PolicyClient("ws://127.0.0.1:" + std::to_string(s.port()), client::InferenceMode::Remote, o)
                        .start_episode(),
                    client::ConnectionError);
    CHECK(seconds_since(t0) < 4.0);
  }
  // Another CA, or the system store (which does not know a self-signed certificate): refused
  // at the first attempt, not retried for reconnect_timeout_s.
  for (const std::string& ca : {other.cert, std::string()}) {
    client::ClientOptions o;
    o.tls_ca_file = ca;
    o.reconnect_timeout_s = 20;
    const auto t0 = test::Clock::now();
    try {
      client::PolicyClient(s.address(), client::InferenceMode::Remote, o).start_episode();
      FAIL("a certificate the client does not trust was accepted (ca '" << ca << "')");
    } catch (const client::ConnectionError& e) {
      CHECK(std::string(e.what()).find("not trusted") != std::string::npos);
    }
    CHECK(seconds_since(t0) < 2.0);
  }
  CHECK(https_get(s.port(), "/healthz", other.cert).status == 0);
  CHECK(test::file_tail(s.dir() + "/server.stderr.log", 100000).find("terminate") == std::string::npos);
}

TEST_CASE("tls: a client reconnects and resends over TLS when the server restarts") {
  const auto cert = make_cert("restart");
  test::ServerProcess s(test::config_for("tls_restart"), "tls_restart", tls_args(cert));
  client::PolicyClient c(s.address(), client::InferenceMode::Remote, pinned(cert, 20));
  round_trip(c);
  s.restart_on_same_port();
  round_trip(c);  // the first call's write or read fails, the client reconnects (TLS) and resends
  auto m = https_get(s.port(), "/metrics", cert.cert);
  REQUIRE_MESSAGE(m.status == 200, m.error);
  CHECK(test::find_metric(m.body, "tandem_episodes_total") == 1);  // the new server's count
}

TEST_CASE("tls: a certificate for another name is refused; a wss:// client to a plain port fails") {
  const auto cert = make_cert("elsewhere", "DNS:elsewhere.example");
  test::ServerProcess s(test::config_for("tls_name"), "tls_name", tls_args(cert));
  for (const char* host : {"127.0.0.1", "localhost"}) {
    const auto t0 = test::Clock::now();
    try {
      client::PolicyClient(std::string("wss://") + host + ":" + std::to_string(s.port()), client::InferenceMode::Remote,
                           pinned(cert, 20))
          .start_episode();
      FAIL("a certificate for elsewhere.example was accepted for " << host);
    } catch (const client::ConnectionError& e) {
      CHECK(std::string(e.what()).find("mismatch") != std::string::npos);
    }
    CHECK(seconds_since(t0) < 2.0);
  }
  test::ServerProcess plain(test::config_for("tls_plain"), "tls_plain", {"--no-train"});
  REQUIRE(plain.address().rfind("ws://", 0) == 0);
  const auto t0 = test::Clock::now();
  CHECK_THROWS_AS(client::PolicyClient("wss://127.0.0.1:" + std::to_string(plain.port()),
                                       client::InferenceMode::Remote, pinned(cert, 1))
                      .start_episode(),
                  client::ConnectionError);
  CHECK(seconds_since(t0) < 4.0);
}

TEST_CASE("tls + token: a wrong token is refused (RefusedError, 401) over TLS") {
  const auto cert = make_cert("auth");
  const std::string token_file = test::results_path("tls_auth.token");
  std::filesystem::create_directories("test_results");
  std::ofstream(token_file) << kToken << "\n";
  auto cfg = test::config_for("tls_auth");
  cfg["auth_token_file"] = token_file;
  test::ServerProcess s(cfg, "tls_auth", tls_args(cert));
  auto o = pinned(cert, 5);
  o.auth_token = "wrong-token-wrong-token";
  const auto t0 = test::Clock::now();
  CHECK_THROWS_AS(client::PolicyClient(s.address(), client::InferenceMode::Remote, o).start_episode(),
                  client::RefusedError);
  CHECK(seconds_since(t0) < 2.0);
  o.auth_token = kToken;
  {
    client::PolicyClient c(s.address(), client::InferenceMode::Remote, o);
    round_trip(c);
  }
  CHECK(https_get(s.port(), "/healthz", cert.cert).status == 200);
  CHECK(https_get(s.port(), "/metrics", cert.cert).status == 401);
  auto m = https_get(s.port(), "/metrics", cert.cert, kToken);
  REQUIRE(m.status == 200);
  CHECK(test::find_metric(m.body, "tandem_auth_failures_total") >= 2);
}

TEST_CASE("tls config: both files or neither, readable PEM, a key of the certificate (exit code 2)") {
  const auto a = make_cert("cfg_a");
  const auto b = make_cert("cfg_b");
  std::filesystem::create_directories("test_results/tls_cli");
  const std::string cfg_path = "test_results/tls_cli/config.json";
  std::ofstream(cfg_path) << test::config_for("tls_cli").dump();
  const std::string not_pem = "test_results/tls_cli/not_pem.txt";
  std::ofstream(not_pem) << "hello\n";
  const std::string base = "-c " + cfg_path + " --port 0 --no-train ";
  struct Case {
    std::string args, key;
  };
  for (const auto& [args, key] : std::vector<Case>{
           {"--tls-cert-file " + a.cert, "tls_key_file"},
           {"--tls-key-file " + a.key, "tls_cert_file"},
           {"--tls-cert-file /nonexistent.crt --tls-key-file " + a.key, "tls_cert_file"},
           {"--tls-cert-file " + a.cert + " --tls-key-file /nonexistent.key", "tls_key_file"},
           {"--tls-cert-file " + not_pem + " --tls-key-file " + a.key, "tls_cert_file"},
           {"--tls-cert-file " + a.cert + " --tls-key-file " + not_pem, "tls_key_file"},
           {"--tls-cert-file " + a.cert + " --tls-key-file " + b.key, "tls_key_file"},
       }) {
    CAPTURE(args);
    auto [rc, err] = run_server(base + args);
    CHECK(rc == 2);
    CHECK_MESSAGE(err.find(key) != std::string::npos, err);
  }
}

TEST_CASE("tls: abort() from another thread unblocks a TLS handshake the server never answers") {
  // A listener that accepts and never speaks: the client blocks in its TLS handshake.
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  client::ClientOptions o;
  o.reconnect_timeout_s = 1;
  client::Connection c("wss://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()), o);
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c.abort();
  });
  const auto t0 = test::Clock::now();
  CHECK_THROWS_AS(c.reconnect("test"), client::ConnectionError);
  aborter.join();
  CHECK(seconds_since(t0) < 4.0);
}
