#pragma once
// Connections, after Beast's advanced server: the listener hands each socket to an
// HttpSession, which reads one HTTP request; a WebSocket upgrade becomes a
// WebsocketSession, anything else is a plain GET (/healthz, /metrics, /results).
//
// WebsocketSession data flow: do_read -> on_read (wire::decode_request: verified frame ->
// core::Request; RequestHandler::handle, which replies now or from an InferenceBatcher flush)
// -> send(rid, Reply) -> wire::encode_reply -> write queue -> do_write/on_write (one
// async_write in flight). All of a session's handlers run on its strand; send() from another
// thread dispatches onto it. Errors are error codes: a session never throws out of a handler.
//
// Order and bounds: the session serves ONE request at a time. It reads the next frame only
// after the reply of the current one was queued (a GetAction waiting in a batcher, a
// ReportSamples held for a busy learner), and only while fewer than kMaxQueuedFrames
// replies wait to be written. Requests of one connection therefore apply in the order they
// were sent, whatever the batching or io_threads, and a client that never reads its replies
// stops being read (TCP pushes back) instead of growing the server's memory.
//
// Identity: the upgrade request's X-Tandem-Client header names the client for exactly-once
// (RequestLedger); without it the connection is its own client.
//
// Authentication (SessionOptions::auth_token set): the upgrade and every HTTP request but
// /healthz need "Authorization: Bearer <token>" (compared in constant time), else HTTP 401.
// A WebSocket from which no frame arrives for idle_timeout is closed.
#include <chrono>
#include <deque>
#include <mutex>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "policy_server/reply_sink.h"
#include "schemas/codec.h"
#include "policy_server/request_handler.h"

namespace tandem::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

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

class WebsocketSession : public ReplySink, public std::enable_shared_from_this<WebsocketSession> {
 public:
  static constexpr size_t kMaxQueuedFrames = 64;

  WebsocketSession(tcp::socket&& socket, RequestHandler& handler, RunStats& stats, std::string client,
                   std::shared_ptr<const SessionOptions> options);
  ~WebsocketSession() override;
  void run(http::request<http::string_body> req);
  void send(uint64_t request_id, core::Reply reply) override;
  void close();

 private:
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void maybe_read();  // on the strand: reads on unless serving, full or closed
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<wire::Frame> queue_;
  RequestHandler& handler_;
  RunStats& stats_;
  const std::string client_;  // ledger key
  const std::shared_ptr<const SessionOptions> options_;
  bool open_ = false;
  bool reading_ = false;       // an async_read is in flight
  bool serving_ = false;       // a request was handed over and its reply is not queued yet
  uint64_t serving_id_ = 0;
  bool failed_ = false;
  std::string peer_;  // remote address:port, for the log
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, RequestHandler& handler, RunStats& stats,
              const HttpHandler& http_handler, std::shared_ptr<const SessionOptions> options,
              std::function<void(std::weak_ptr<WebsocketSession>)> on_ws);
  void run();

 private:
  void on_read(beast::error_code ec, std::size_t);
  bool authorized() const;
  void respond(http::status status, std::string content_type, std::string body);
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::shared_ptr<http::response<http::string_body>> res_;
  RequestHandler& handler_;
  RunStats& stats_;
  const HttpHandler& http_handler_;
  const std::shared_ptr<const SessionOptions> options_;
  std::function<void(std::weak_ptr<WebsocketSession>)> on_ws_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::endpoint endpoint, bool use_strands, RequestHandler& handler,
           RunStats& stats, HttpHandler http_handler, SessionOptions options);
  void run();
  void stop();
  uint16_t port() const { return port_; }
  void close_sessions();

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  bool use_strands_;
  RequestHandler& handler_;
  RunStats& stats_;
  HttpHandler http_handler_;
  const std::shared_ptr<const SessionOptions> options_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::weak_ptr<WebsocketSession>> sessions_;
  net::steady_timer retry_;  // accept failures (EMFILE...) back off instead of spinning
  LogLimiter accept_log_;
};

}  // namespace tandem::server
