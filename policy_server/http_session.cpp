#include "policy_server/http_session.h"

#include <spdlog/spdlog.h>

#include <boost/beast/websocket/rfc6455.hpp>

#include "policy_server/request_handler.h"
#include "policy_server/run_stats.h"
#include "policy_server/static_files.h"
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
  // Beast checks a Content-Length against the limit with the header: the largest any request
  // may have here; on_header lowers it for everything but an authorized inference POST.
  parser_->body_limit(kMaxInferenceBody);
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&HttpSession::on_header, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::on_header(beast::error_code ec, std::size_t) {
  keep_alive_ = false;
  if (ec == http::error::body_limit) return too_large();
  if (ec) return;
  // Only an authorized POST to an inference path may carry observations: a larger body.
  const auto& h = parser_->get();
  const std::string_view target(h.target().data(), h.target().size());
  const bool inference = h.method() == http::verb::post &&
                         inference_route(target.substr(0, target.find('?')), options_->inference_paths) &&
                         session_detail::authorized(h, options_->auth_token);
  if (!inference) {
    if (parser_->content_length() && *parser_->content_length() > kMaxBody) return too_large();
    parser_->body_limit(kMaxBody);  // a chunked body is checked chunk by chunk
  }
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::on_read(beast::error_code ec, std::size_t) {
  keep_alive_ = false;
  if (ec == http::error::body_limit) return too_large();  // a chunked body over the limit
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
    if (inference_route(path, options_->inference_paths))
      return respond(http::status::unauthorized, "application/json",
                     R"({"error":"Unauthorized","message":"send 'Authorization: Bearer <token>'"})");
    return respond(http::status::unauthorized, "text/plain", "401: send 'Authorization: Bearer <token>'\n");
  }
  if (is_upgrade) return upgrade();
  keep_alive_ = req_.keep_alive();
  if (auto route = inference_route(path, options_->inference_paths)) {
    if (req_.method() == http::verb::post) return infer(*route);
    return respond(http::status::method_not_allowed, "application/json",
                   inference_error(core::Status::error(core::ErrorCode::BadRequest, "POST a JSON body here")).body);
  }
  HttpReply r;
  const bool head = req_.method() == http::verb::head;
  if (req_.method() != http::verb::get && !head) {
    if (is_static_path(path)) {
      auto e = static_method_not_allowed();
      r = {e.status, std::move(e.content_type), std::move(e.body)};
    } else {
      r = {405, "text/plain", "only GET is served here (and POST to /v1/policies/<policy_id>/actions)\n"};
    }
  } else {
    r = http_handler_(path);
  }
  log()->debug("HTTP {} {} -> {}", std::string_view(req_.method_string().data(), req_.method_string().size()),
               target, r.status);
  respond(static_cast<http::status>(r.status), r.content_type, std::move(r.body), head);
}

namespace {
// Hands a reply of the request core to a function (the session's, posted to its executor).
class CallbackSink : public ReplySink {
 public:
  explicit CallbackSink(std::function<void(core::Reply)> fn) : fn_(std::move(fn)) {}
  void send(uint64_t, core::Reply reply) override { fn_(std::move(reply)); }

 private:
  std::function<void(core::Reply)> fn_;
};
}  // namespace

template <class Stream>
void HttpSession<Stream>::infer(const InferenceRoute& route) {
  stats_.http_inference_requests.fetch_add(1);
  core::ComputeActions m;
  if (auto st = parse_inference_body(req_.body(), route, m); !st.ok()) {
    auto e = inference_error(st);
    return respond(static_cast<http::status>(e.status), "application/json", std::move(e.body));
  }
  // The request core always answers (its batcher flushes); the write gets its own deadline.
  beast::get_lowest_layer(stream_).expires_never();
  auto self = this->shared_from_this();
  auto sink = std::make_shared<CallbackSink>([self, route](core::Reply r) {
    net::post(beast::get_lowest_layer(self->stream_).get_executor(), [self, route, r = std::move(r)] {
      auto j = format_inference_reply(r, route);
      self->respond(static_cast<http::status>(j.status), "application/json", std::move(j.body));
    });
  });
  handler_.compute_actions(Caller{"http", next_request_id_++, false, std::move(sink)}, m);
}

template <class Stream>
void HttpSession<Stream>::too_large() {
  req_ = {};
  req_.version(11);
  keep_alive_ = false;
  respond(http::status::payload_too_large, "application/json",
          inference_error(core::Status::error(core::ErrorCode::BadRequest,
                                              "the body is too large: at most 1 MiB for an authorized inference "
                                              "POST, 1 KiB for anything else"))
              .body);
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
void HttpSession<Stream>::respond(http::status status, std::string content_type, std::string body,
                                  bool head_only) {
  res_ = std::make_shared<http::response<http::string_body>>(status, req_.version());
  res_->set(http::field::content_type, content_type);
  res_->set("X-Content-Type-Options", "nosniff");  // browsers take Content-Type as given
  if (status == http::status::unauthorized) res_->set(http::field::www_authenticate, "Bearer");
  res_->body() = std::move(body);
  if (status == http::status::unauthorized) keep_alive_ = false;
  res_->keep_alive(keep_alive_);
  res_->prepare_payload();
  if (head_only) res_->body().clear();  // HEAD: the GET's headers (Content-Length too), no body
  req_ = {};  // its body (up to kMaxInferenceBody) is not kept while the connection idles
  beast::get_lowest_layer(stream_).expires_after(options_->handshake_timeout);
  http::async_write(stream_, *res_, beast::bind_front_handler(&HttpSession::on_write, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::on_write(beast::error_code ec, std::size_t) {
  if (ec) return;  // the peer is gone: returning closes the socket
  if (!keep_alive_) return do_close();
  res_.reset();
  beast::get_lowest_layer(stream_).expires_after(options_->handshake_timeout);
  do_read();
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
