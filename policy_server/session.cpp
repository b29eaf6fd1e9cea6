#include "policy_server/session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>

namespace tandem::server {
namespace {
std::shared_ptr<spdlog::logger> log() {
  static auto l = [] {
    auto existing = spdlog::get("net");
    return existing ? existing : spdlog::default_logger()->clone("net");
  }();
  return l;
}

std::string peer_of(beast::tcp_stream& s) {
  beast::error_code ec;
  const auto ep = s.socket().remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

// The ledger key of a connection: "id:" + the client's X-Tandem-Client header, or a key of
// its own ("conn:N") when it sent none. False for a malformed header.
bool client_identity(const http::request<http::string_body>& req, std::string& key) {
  static std::atomic<uint64_t> next_connection{1};
  auto it = req.find("X-Tandem-Client");
  if (it == req.end()) {
    key = "conn:" + std::to_string(next_connection.fetch_add(1));
    return true;
  }
  const std::string_view v(it->value().data(), it->value().size());
  if (v.empty() || v.size() > 64) return false;
  for (char c : v)
    if (c < 0x21 || c > 0x7e) return false;
  key = "id:" + std::string(v);
  return true;
}
// Constant time in the token's content (not its length, which is not secret enough to matter).
bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

LogLimiter refused_log, auth_log;
}  // namespace

bool LogLimiter::allow(int64_t& suppressed) {
  std::lock_guard lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < std::chrono::seconds(1)) {
    ++skipped_;
    return false;
  }
  last_ = now;
  suppressed = skipped_;
  skipped_ = 0;
  return true;
}

// ---------------- WebsocketSession ----------------

WebsocketSession::WebsocketSession(tcp::socket&& socket, RequestHandler& handler, RunStats& stats,
                                   std::string client, std::shared_ptr<const SessionOptions> options)
    : ws_(std::move(socket)),
      handler_(handler),
      stats_(stats),
      client_(std::move(client)),
      options_(std::move(options)) {}

WebsocketSession::~WebsocketSession() {
  // However the connection ended (read or write error, close): ~Server keeps the handler and
  // the stats alive until every session is gone.
  handler_.connection_closed(client_);
  if (open_) stats_.connected_clients.fetch_sub(1);
}

void WebsocketSession::run(http::request<http::string_body> req) {
  // No keep-alive pings: a client that sends nothing for idle_timeout is closed, whether or
  // not its TCP stack would answer a ping (the client reconnects and resends if it was alive).
  websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::server);
  t.idle_timeout = options_->idle_timeout;
  t.keep_alive_pings = false;
  ws_.set_option(t);
  ws_.read_message_max(wire::kMaxFrameBytes);
  ws_.binary(true);
  beast::get_lowest_layer(ws_).expires_never();
  beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
  ws_.async_accept(req, beast::bind_front_handler(&WebsocketSession::on_accept, shared_from_this()));
}

void WebsocketSession::on_accept(beast::error_code ec) {
  if (ec) return log()->debug("websocket accept failed: {}", ec.message());
  open_ = true;
  const int64_t n = stats_.connected_clients.fetch_add(1) + 1;
  beast::error_code ep_ec;
  const auto ep = beast::get_lowest_layer(ws_).socket().remote_endpoint(ep_ec);
  peer_ = ep_ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  log()->debug("client {} connected as {} ({} open)", peer_, client_, n);
  maybe_read();
}

void WebsocketSession::maybe_read() {
  if (reading_ || serving_ || failed_ || queue_.size() >= kMaxQueuedFrames) return;
  reading_ = true;
  ws_.async_read(buffer_, beast::bind_front_handler(&WebsocketSession::on_read, shared_from_this()));
}

void WebsocketSession::on_read(beast::error_code ec, std::size_t) {
  reading_ = false;
  if (ec) {
    failed_ = true;
    // The count drops when the session is destroyed, right after the last handler.
    if (ec == websocket::error::closed)
      log()->debug("client {} disconnected (close frame)", peer_);
    else if (ec == beast::error::timeout) {
      stats_.idle_closed.fetch_add(1);
      log()->debug("client {} closed: nothing received for idle_timeout_s", peer_);
    }
    else
      log()->debug("client {} gone: {}", peer_, ec.message());
    return;
  }
  if (!ws_.got_binary()) {
    buffer_.consume(buffer_.size());
    send(0, core::Error{core::ErrorCode::BadFrame,
                        "text frames are not accepted: send binary FlatBuffers envelopes"});
    return maybe_read();
  }
  auto data = buffer_.data();
  const std::span<const uint8_t> bytes(static_cast<const uint8_t*>(data.data()), data.size());
  auto d = wire::decode_request(bytes);  // copies: the buffer is free for the next read
  const uint64_t fp = wire::fingerprint(bytes);
  buffer_.consume(buffer_.size());
  if (!d.status.ok()) {
    send(d.request_id, core::error_reply(d.status));
  } else {
    serving_ = true;
    serving_id_ = d.request_id;
    handler_.handle(Caller{client_, d.request_id, false, shared_from_this()}, fp, std::move(d.request));
  }
  maybe_read();
}

void WebsocketSession::send(uint64_t request_id, core::Reply reply) {
  net::dispatch(ws_.get_executor(), [self = shared_from_this(), request_id, r = std::move(reply)]() mutable {
    if (self->failed_) return;
    const bool idle = self->queue_.empty();
    for (auto& f : wire::encode_reply(request_id, r)) self->queue_.push_back(std::move(f));
    if (self->serving_ && request_id == self->serving_id_) {
      self->serving_ = false;  // this request is done: read the next one
      self->maybe_read();
    }
    if (idle) self->do_write();
  });
}

void WebsocketSession::do_write() {
  ws_.async_write(net::buffer(queue_.front()),
                  beast::bind_front_handler(&WebsocketSession::on_write, shared_from_this()));
}

void WebsocketSession::on_write(beast::error_code ec, std::size_t) {
  if (ec) {
    failed_ = true;
    queue_.clear();
    return;
  }
  queue_.pop_front();
  if (!queue_.empty()) do_write();
  maybe_read();
}

void WebsocketSession::close() {
  net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
    if (!self->ws_.is_open()) return;
    self->ws_.async_close(websocket::close_code::going_away, [self](beast::error_code) {});
  });
}

// ---------------- HttpSession ----------------

HttpSession::HttpSession(tcp::socket&& socket, RequestHandler& handler, RunStats& stats,
                         const HttpHandler& http_handler, std::shared_ptr<const SessionOptions> options,
                         std::function<void(std::weak_ptr<WebsocketSession>)> on_ws)
    : stream_(std::move(socket)),
      handler_(handler),
      stats_(stats),
      http_handler_(http_handler),
      options_(std::move(options)),
      on_ws_(std::move(on_ws)) {}

bool HttpSession::authorized() const {
  if (options_->auth_token.empty()) return true;
  auto it = req_.find(http::field::authorization);
  if (it == req_.end()) return false;
  const std::string_view v(it->value().data(), it->value().size());
  constexpr std::string_view kBearer = "Bearer ";
  return v.size() > kBearer.size() && v.substr(0, kBearer.size()) == kBearer &&
         same_token(v.substr(kBearer.size()), options_->auth_token);
}

void HttpSession::respond(http::status status, std::string content_type, std::string body) {
  res_ = std::make_shared<http::response<http::string_body>>(status, req_.version());
  res_->set(http::field::content_type, content_type);
  if (status == http::status::unauthorized) res_->set(http::field::www_authenticate, "Bearer");
  res_->body() = std::move(body);
  res_->keep_alive(false);
  res_->prepare_payload();
  http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code, std::size_t) {
    beast::error_code ignored;
    self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

void HttpSession::run() {
  stream_.expires_after(std::chrono::seconds(30));
  http::async_read(stream_, buffer_, req_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec) return;
  const std::string_view target(req_.target().data(), req_.target().size());
  const bool upgrade = websocket::is_upgrade(req_);
  if ((upgrade || target != "/healthz") && !authorized()) {
    stats_.auth_failures.fetch_add(1);
    int64_t skipped = 0;
    if (auth_log.allow(skipped))
      log()->warn("refused {} from {}: missing or wrong bearer token ({} more refusals not logged)",
                  upgrade ? "an upgrade" : "an HTTP request", peer_of(stream_), skipped);
    return respond(http::status::unauthorized, "text/plain", "401: send 'Authorization: Bearer <token>'\n");
  }
  if (upgrade) {
    std::string client;
    if (!client_identity(req_, client)) {
      stats_.refused_upgrades.fetch_add(1);
      int64_t skipped = 0;
      if (refused_log.allow(skipped))
        log()->warn("refused an upgrade from {}: bad X-Tandem-Client header ({} more not logged)",
                    peer_of(stream_), skipped);
      return respond(http::status::bad_request, "text/plain", "X-Tandem-Client must be 1 to 64 printable ASCII characters\n");
    }
    auto ws = std::make_shared<WebsocketSession>(stream_.release_socket(), handler_, stats_, std::move(client),
                                                 options_);
    on_ws_(ws);
    ws->run(std::move(req_));
    return;
  }
  HttpReply r;
  if (req_.method() != http::verb::get)
    r = {405, "text/plain", "only GET is served here\n"};
  else
    r = http_handler_(target);
  log()->debug("HTTP {} {} -> {}", std::string_view(req_.method_string().data(), req_.method_string().size()),
               target, r.status);
  respond(static_cast<http::status>(r.status), r.content_type, std::move(r.body));
}

// ---------------- Listener ----------------

Listener::Listener(net::io_context& ioc, tcp::endpoint endpoint, bool use_strands,
                   RequestHandler& handler, RunStats& stats, HttpHandler http_handler, SessionOptions options)
    : ioc_(ioc),
      acceptor_(ioc),
      use_strands_(use_strands),
      handler_(handler),
      stats_(stats),
      http_handler_(std::move(http_handler)),
      options_(std::make_shared<const SessionOptions>(std::move(options))),
      retry_(ioc) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

void Listener::run() { do_accept(); }

void Listener::do_accept() {
  // With one I/O thread the io_context itself serialises everything; strands only with more.
  if (use_strands_)
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  else
    acceptor_.async_accept(ioc_, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    // Out of file descriptors (or similar): retry in 100 ms, log at most once a second.
    const int64_t n = stats_.accept_failures.fetch_add(1) + 1;
    int64_t skipped = 0;
    if (accept_log_.allow(skipped))
      log()->warn("accept failed: {} ({} failures so far); retrying in 100 ms", ec.message(), n);
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && self->acceptor_.is_open()) self->do_accept();
    });
    return;
  } else {
    std::make_shared<HttpSession>(std::move(socket), handler_, stats_, http_handler_, options_,
                                  [this](std::weak_ptr<WebsocketSession> ws) {
                                    std::lock_guard lk(mu_);
                                    std::erase_if(sessions_, [](auto& w) { return w.expired(); });
                                    sessions_.push_back(std::move(ws));
                                  })
        ->run();
  }
  if (acceptor_.is_open()) do_accept();
}

void Listener::stop() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->retry_.cancel();
  });
}

void Listener::close_sessions() {
  std::lock_guard lk(mu_);
  for (auto& w : sessions_)
    if (auto s = w.lock()) s->close();
}

}  // namespace tandem::server
