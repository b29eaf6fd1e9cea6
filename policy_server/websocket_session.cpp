#include "policy_server/websocket_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/websocket/ssl.hpp>  // teardown of a WebSocket over TLS

#include "policy_server/run_stats.h"

namespace tandem::server {

namespace websocket = beast::websocket;
using session_detail::log;

template <class Stream>
WebsocketSession<Stream>::WebsocketSession(Stream&& stream, RequestHandler& handler, RunStats& stats,
                                           std::string client, std::shared_ptr<const SessionOptions> options)
    : ws_(std::move(stream)),
      handler_(handler),
      stats_(stats),
      client_(std::move(client)),
      options_(std::move(options)) {}

template <class Stream>
WebsocketSession<Stream>::~WebsocketSession() {
  // However the connection ended (read or write error, close): ~Server keeps the handler and
  // the stats alive until every session is gone.
  handler_.connection_closed(client_);
  if (open_) stats_.connected_clients.fetch_sub(1);
}

template <class Stream>
void WebsocketSession<Stream>::run(http::request<http::string_body> req) {
  // No keep-alive pings: a client that sends nothing for idle_timeout is closed, whether or
  // not its TCP stack would answer a ping (the client reconnects and resends if it was alive).
  auto t = websocket::stream_base::timeout::suggested(beast::role_type::server);
  t.idle_timeout = options_->idle_timeout;
  t.keep_alive_pings = false;
  ws_.set_option(t);
  ws_.read_message_max(wire::kMaxFrameBytes);
  ws_.binary(true);
  beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts apply from here
  beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
  ws_.async_accept(req, beast::bind_front_handler(&WebsocketSession::on_accept, this->shared_from_this()));
}

template <class Stream>
void WebsocketSession<Stream>::on_accept(beast::error_code ec) {
  if (ec) return log()->debug("websocket accept failed: {}", ec.message());
  open_ = true;
  const int64_t n = stats_.connected_clients.fetch_add(1) + 1;
  peer_ = session_detail::peer_of(beast::get_lowest_layer(ws_).socket());
  log()->debug("client {} connected as {}{} ({} open)", peer_, client_, kIsTls<Stream> ? " over TLS" : "", n);
  do_read();
}

template <class Stream>
void WebsocketSession<Stream>::do_read() {
  if (reading_ || serving_ || failed_ || queue_.size() >= kMaxQueuedFrames ||
      queued_bytes_ >= kMaxQueuedBytes)
    return;
  reading_ = true;
  ws_.async_read(buffer_, beast::bind_front_handler(&WebsocketSession::on_read, this->shared_from_this()));
}

template <class Stream>
void WebsocketSession<Stream>::on_read(beast::error_code ec, std::size_t) {
  reading_ = false;
  if (ec) {
    failed_ = true;
    // The count drops when the session is destroyed, right after the last handler.
    if (ec == websocket::error::closed)
      log()->debug("client {} disconnected (close frame)", peer_);
    else if (ec == beast::error::timeout) {
      stats_.idle_closed.fetch_add(1);
      log()->debug("client {} closed: nothing received for idle_timeout_s", peer_);
    } else
      log()->debug("client {} gone: {}", peer_, ec.message());
    return;
  }
  if (!ws_.got_binary()) {
    buffer_.consume(buffer_.size());
    send(0, core::Error{core::ErrorCode::BadFrame,
                        "text frames are not accepted: send binary FlatBuffers envelopes"});
    return do_read();
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
    handler_.handle(Caller{client_, d.request_id, false, this->shared_from_this()}, fp, std::move(d.request));
  }
  do_read();
}

template <class Stream>
void WebsocketSession<Stream>::send(uint64_t request_id, core::Reply reply) {
  net::dispatch(ws_.get_executor(), [self = this->shared_from_this(), request_id, r = std::move(reply)]() mutable {
    if (self->failed_) return;
    const bool idle = self->queue_.empty();
    for (auto& f : wire::encode_reply(request_id, r)) {
      self->queued_bytes_ += f.size();
      self->queue_.push_back(std::move(f));
    }
    if (self->serving_ && request_id == self->serving_id_) {
      self->serving_ = false;  // this request is done: read the next one
      self->do_read();
    }
    if (idle) self->do_write();
  });
}

template <class Stream>
void WebsocketSession<Stream>::do_write() {
  ws_.async_write(net::buffer(queue_.front()),
                  beast::bind_front_handler(&WebsocketSession::on_write, this->shared_from_this()));
}

template <class Stream>
void WebsocketSession<Stream>::on_write(beast::error_code ec, std::size_t) {
  if (ec) {
    failed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    return;
  }
  queued_bytes_ -= queue_.front().size();
  queue_.pop_front();
  if (!queue_.empty()) do_write();
  do_read();
}

template <class Stream>
void WebsocketSession<Stream>::close() {
  net::dispatch(ws_.get_executor(), [self = this->shared_from_this()] {
    if (!self->ws_.is_open()) return;
    self->ws_.async_close(websocket::close_code::going_away, [self](beast::error_code) {});
  });
}

template class WebsocketSession<PlainStream>;
template class WebsocketSession<TlsStream>;

}  // namespace tandem::server
