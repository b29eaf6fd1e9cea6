#include "policy_server/http_session.h"

#include <spdlog/spdlog.h>

#include <boost/beast/websocket/rfc6455.hpp>

#include "policy_server/run_stats.h"
#include "policy_server/websocket_session.h"

namespace tandem::server {

using session_detail::log;

namespace {
// How long a TLS close (close_notify both ways) may take after a response.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(5);
}  // namespace

template <class Stream>
HttpSession<Stream>::HttpSession(Stream&& stream, RequestHandler& handler, RunStats& stats,
                                 const HttpHandler& http_handler, std::shared_ptr<const SessionOptions> options,
                                 SessionRegistrar on_ws)
    : stream_(std::move(stream)),
      handler_(handler),
      stats_(stats),
      http_handler_(http_handler),
      options_(std::move(options)),
      on_ws_(std::move(on_ws)) {}

template <class Stream>
void HttpSession<Stream>::run() {
  // One deadline for the TLS handshake and the first request: a client that connects and
  // stalls is closed after it.
  beast::get_lowest_layer(stream_).expires_after(options_->handshake_timeout);
  if constexpr (kIsTls<Stream>)
    stream_.async_handshake(net::ssl::stream_base::server,
                            beast::bind_front_handler(&HttpSession::on_handshake, this->shared_from_this()));
  else
    do_read();
}

template <class Stream>
void HttpSession<Stream>::on_handshake(beast::error_code ec) {
  if (ec) {
    // Plain HTTP or WebSocket to a TLS port, an untrusted certificate on the client's side, a
    // client that stalled: returning closes the socket.
    return log()->debug("TLS handshake with {} failed: {}",
                        session_detail::peer_of(beast::get_lowest_layer(stream_).socket()), ec.message());
  }
  do_read();
}

template <class Stream>
void HttpSession<Stream>::do_read() {
  parser_.emplace();
  parser_->header_limit(8192);
  parser_->body_limit(kMaxBody);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::on_read(beast::error_code ec, std::size_t) {
  if (ec) return;
  req_ = parser_->release();
  parser_.reset();
  const std::string_view target(req_.target().data(), req_.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  const bool is_upgrade = beast::websocket::is_upgrade(req_);
  if ((is_upgrade || path != "/healthz") && !session_detail::authorized(req_, options_->auth_token)) {
    stats_.auth_failures.fetch_add(1);
    int64_t skipped = 0;
    if (session_detail::auth_log().allow(skipped))
      log()->warn("refused {} from {}: missing or wrong bearer token ({} more refusals not logged)",
                  is_upgrade ? "an upgrade" : "an HTTP request",
                  session_detail::peer_of(beast::get_lowest_layer(stream_).socket()), skipped);
    return respond(http::status::unauthorized, "text/plain", "401: send 'Authorization: Bearer <token>'\n");
  }
  if (is_upgrade) return upgrade();
  HttpReply r;
  if (req_.method() != http::verb::get)
    r = {405, "text/plain", "only GET is served here\n"};
  else
    r = http_handler_(path);
  log()->debug("HTTP {} {} -> {}", std::string_view(req_.method_string().data(), req_.method_string().size()),
               target, r.status);
  respond(static_cast<http::status>(r.status), r.content_type, std::move(r.body));
}

template <class Stream>
void HttpSession<Stream>::upgrade() {
  std::string client;
  if (!session_detail::client_identity(req_, client)) {
    stats_.refused_upgrades.fetch_add(1);
    int64_t skipped = 0;
    if (session_detail::refused_log().allow(skipped))
      log()->warn("refused an upgrade from {}: bad X-Tandem-Client header ({} more not logged)",
                  session_detail::peer_of(beast::get_lowest_layer(stream_).socket()), skipped);
    return respond(http::status::bad_request, "text/plain",
                   "X-Tandem-Client must be 1 to 64 printable ASCII characters\n");
  }
  auto ws = std::make_shared<WebsocketSession<Stream>>(std::move(stream_), handler_, stats_, std::move(client),
                                                       options_);
  on_ws_(ws);
  ws->run(std::move(req_));
}

template <class Stream>
void HttpSession<Stream>::respond(http::status status, std::string content_type, std::string body) {
  res_ = std::make_shared<http::response<http::string_body>>(status, req_.version());
  res_->set(http::field::content_type, content_type);
  if (status == http::status::unauthorized) res_->set(http::field::www_authenticate, "Bearer");
  res_->body() = std::move(body);
  res_->keep_alive(false);
  res_->prepare_payload();
  http::async_write(stream_, *res_, beast::bind_front_handler(&HttpSession::on_write, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::on_write(beast::error_code ec, std::size_t) {
  if (ec) return;  // the peer is gone: returning closes the socket
  do_close();
}

template <class Stream>
void HttpSession<Stream>::do_close() {
  if constexpr (kIsTls<Stream>) {
    beast::get_lowest_layer(stream_).expires_after(kTlsShutdownTimeout);
    stream_.async_shutdown(beast::bind_front_handler(&HttpSession::on_shutdown, this->shared_from_this()));
  } else {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

template <class Stream>
void HttpSession<Stream>::on_shutdown(beast::error_code) {
  // A client that closes without its close_notify is normal for HTTP: nothing to report.
}

template class HttpSession<PlainStream>;
template class HttpSession<TlsStream>;

}  // namespace tandem::server
