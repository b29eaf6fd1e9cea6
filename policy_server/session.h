#pragma once
// Connections, after Beast's advanced server (example/advanced/server-flex): the Listener
// hands each socket to an HttpSession, which reads one HTTP request; a WebSocket upgrade
// becomes a WebsocketSession, anything else is a plain GET (/healthz, /metrics, /results).
// Both sessions are templates on their stream: PlainStream (ws://, http://) or TlsStream
// (wss://, https://: the TLS handshake comes first). A port is all plain or all TLS.
//
// This header holds what the sessions share: their options, the HTTP handler's signature,
// the client identity and bearer-token checks, and the log limiter. See http_session.h,
// websocket_session.h and listener.h for the three objects.
//
// Identity: the upgrade request's X-Tandem-Client header names the client for exactly-once
// (RequestLedger); without it the connection is its own client.
//
// Authentication (SessionOptions::auth_token set): the upgrade and every HTTP request but
// /healthz need "Authorization: Bearer <token>" (compared in constant time), else HTTP 401.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace spdlog {
class logger;
}

namespace tandem::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
template <class Stream>
inline constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// Answers plain HTTP GETs: returns (status, content_type, body) for a target.
struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};
using HttpHandler = std::function<HttpReply(std::string_view target)>;

struct SessionOptions {
  std::string auth_token;                 // empty: no authentication
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(300);
  // A connection must finish its TLS handshake and send its HTTP request within this.
  std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(30);
  // HTTP JSON inference under configured paths (path -> policy id), besides
  // /v1/policies/<id>/actions (policy_server/http_inference.h).
  std::map<std::string, std::string> inference_paths;
};

// Logs at most once per interval (per instance); counts what it did not log.
class LogLimiter {
 public:
  // True when this event should be logged; `suppressed` is then the number skipped since.
  bool allow(int64_t& suppressed);
 private:
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
  int64_t skipped_ = 0;
};

// A WebSocket session as the Listener sees it: something to close at shutdown.
class ClosableSession {
 public:
  virtual ~ClosableSession() = default;
  virtual void close() = 0;  // any thread
};
using SessionRegistrar = std::function<void(std::weak_ptr<ClosableSession>)>;

namespace session_detail {
// The "net" logger.
std::shared_ptr<spdlog::logger> log();
// "address:port" of the socket's peer ("?" when it is gone).
std::string peer_of(const tcp::socket& s);
// The ledger key of a connection: "id:" + the client's X-Tandem-Client header, or a key of
// its own ("conn:N") when it sent none. False for a malformed header.
bool client_identity(const http::request<http::string_body>& req, std::string& key);
// True when no token is set, or the request carries "Authorization: Bearer <token>".
bool authorized(const http::request<http::string_body>& req, const std::string& token);
// Process-wide limiters of the refusal warnings.
LogLimiter& refused_log();
LogLimiter& auth_log();
}  // namespace session_detail

}  // namespace tandem::server
