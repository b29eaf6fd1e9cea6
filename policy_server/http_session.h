#pragma once
// The first request of every connection: on a TlsStream the TLS handshake comes first (TLS
// 1.2+, within SessionOptions::handshake_timeout; a client speaking plain HTTP or WebSocket
// to a TLS port fails it at once and is closed). Then one HTTP request, read within the same
// deadline: a WebSocket upgrade becomes a WebsocketSession<Stream> (after the auth and
// identity checks); a POST to an inference path goes to the request core as a
// ComputeActions (policy_server/http_inference.h) and is answered in JSON when its actions
// are computed; any other request is answered (GET or HEAD /healthz, /metrics, /results, the
// static files under /play/: policy_server/static_files.h). HTTP/1.1
// keep-alive: each next request must arrive within handshake_timeout (30 s) of the last
// response, a response must be written within it too; while actions are computed there is
// no deadline (the batcher always answers). A 401 or 413 closes.
#include <functional>
#include <memory>
#include <optional>

#include "policy_server/http_inference.h"
#include "policy_server/session.h"

namespace tandem::server {

class RequestHandler;
class RunStats;

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // A PlainStream is built from the socket; a TlsStream also needs the server's context.
  HttpSession(Stream&& stream, RequestHandler& handler, RunStats& stats, const HttpHandler& http_handler,
              std::shared_ptr<const SessionOptions> options, SessionRegistrar on_ws);
  void run();

 private:
  void on_handshake(beast::error_code ec);
  void do_read();
  void on_header(beast::error_code ec, std::size_t bytes);
  void on_read(beast::error_code ec, std::size_t bytes);
  // A POST to an inference path: parsed, then RequestHandler::compute_actions; its reply
  // comes back through a ReplySink posted onto this session's executor.
  void infer(const InferenceRoute& route);
  // 413 and close: a body over the limit (the rest of it is never read).
  void too_large();
  void upgrade();
  // head_only (a HEAD request): the headers of the full response, no body.
  void respond(http::status status, std::string content_type, std::string body, bool head_only = false);
  void on_write(beast::error_code ec, std::size_t bytes);
  void do_close();
  void on_shutdown(beast::error_code ec);

  Stream stream_;
  beast::flat_buffer buffer_;
  // Only inference POSTs have a body: a peer can make the server hold at most the 8 KiB
  // header and kMaxBody bytes of body per connection, kMaxInferenceBody once authorized.
  static constexpr uint64_t kMaxBody = 1024;
  // 1 MiB: 1024 observations of ~100 floats, and a parsed JSON tree of tens of MB at most.
  static constexpr uint64_t kMaxInferenceBody = 1u << 20;
  bool keep_alive_ = false;  // of the request being answered
  uint64_t next_request_id_ = 1;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  std::shared_ptr<http::response<http::string_body>> res_;
  RequestHandler& handler_;
  RunStats& stats_;
  const HttpHandler& http_handler_;
  const std::shared_ptr<const SessionOptions> options_;
  SessionRegistrar on_ws_;
};

extern template class HttpSession<PlainStream>;
extern template class HttpSession<TlsStream>;

}  // namespace tandem::server
