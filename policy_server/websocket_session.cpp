#include "policy_server/websocket_session.h"

#include <spdlog/spdlog.h>

#include <atomic>

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

// One request's way back: answered once, on any thread, onto the session's strand.
template <class Stream>
class WebsocketSession<Stream>::ReplySlot final : public ReplySink {
 public:
  ReplySlot(std::shared_ptr<WebsocketSession> session, uint64_t seq) : session_(std::move(session)), seq_(seq) {}
  void send(uint64_t, core::Reply reply) override {
    if (answered_.exchange(true)) return;
    auto& s = *session_;
    net::dispatch(s.ws_.get_executor(), [self = session_, seq = seq_, r = std::move(reply)]() mutable {
      self->on_reply(seq, std::move(r));
    });
  }

 private:
  const std::shared_ptr<WebsocketSession> session_;
  const uint64_t seq_;
  std::atomic<bool> answered_{false};
};

template <class Stream>
void WebsocketSession<Stream>::do_read() {
  if (reading_ || failed_ || writes_full() || pipeline_.size() >= kMaxPipelined ||
      pipeline_bytes_ >= kMaxPipelinedBytes)
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
  Pipelined p;
  p.bytes = buffer_.size();
  if (!ws_.got_binary()) {
    answer(p, core::Error{core::ErrorCode::BadFrame, "text frames are not accepted: send binary FlatBuffers envelopes"});
  } else {
    auto data = buffer_.data();
    const std::span<const uint8_t> bytes(static_cast<const uint8_t*>(data.data()), data.size());
    auto d = wire::decode_request(bytes);  // copies: the buffer is free for the next read
    p.request_id = d.request_id;
    p.fingerprint = wire::fingerprint(bytes);
    if (!d.status.ok()) {
      answer(p, core::error_reply(d.status));
    } else {
      p.keys = order_keys(d.request);
      p.request = std::move(d.request);
    }
  }
  buffer_.consume(buffer_.size());
  pipeline_bytes_ += p.bytes;
  pipeline_.push_back(std::move(p));
  do_read();  // first: a frame that has arrived already joins this one's forward pass
  pump();
  write_answered();
  do_read();  // if the pipeline was full before the replies above were written
}

template <class Stream>
void WebsocketSession<Stream>::answer(Pipelined& p, const core::Reply& reply) {
  p.frames = wire::encode_reply(p.request_id, reply);
  for (const auto& f : p.frames) parked_bytes_ += f.size();
  p.answered = true;
}

template <class Stream>
bool WebsocketSession<Stream>::writes_full() const {
  return queue_.size() >= kMaxQueuedFrames || queued_bytes_ + parked_bytes_ >= kMaxQueuedBytes;
}

template <class Stream>
bool WebsocketSession<Stream>::can_start() const {
  if (failed_ || next_start_ >= first_seq_ + pipeline_.size()) return false;
  const auto& p = pipeline_[next_start_ - first_seq_];
  if (!p.request) return true;  // answered at decoding: only to be stepped over
  return !writes_full() && order_.may_start(p.keys);
}

template <class Stream>
void WebsocketSession<Stream>::pump() {
  if (pumping_) return;  // a reply given inside handle(): the loop below goes on
  pumping_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }  // also if handle() throws (bad_alloc): replies must go on
  } done{pumping_};
  while (can_start()) {
    auto& p = pipeline_[next_start_ - first_seq_];
    if (!p.request) {  // answered at decoding
      ++next_start_;
      continue;
    }
    order_.start(p.keys);
    const uint64_t seq = next_start_++;
    core::Request request = std::move(*p.request);
    p.request.reset();
    const uint64_t request_id = p.request_id, fingerprint = p.fingerprint;
    try {
      auto slot = std::make_shared<ReplySlot>(this->shared_from_this(), seq);
      handler_.handle(Caller{client_, request_id, false, std::move(slot)}, fingerprint, std::move(request));
    } catch (const std::exception& e) {
      // handle() answers every failure itself; this is out of memory or worse. Answer it
      // here, so that the requests behind it are not stuck (a late reply is dropped).
      stats_.io_errors.fetch_add(1);
      on_reply(seq, core::Error{core::ErrorCode::Internal, std::string("request failed: ") + e.what()});
    }
  }
}

template <class Stream>
void WebsocketSession<Stream>::on_reply(uint64_t seq, core::Reply reply) {
  if (failed_ || seq < first_seq_ || seq >= first_seq_ + pipeline_.size()) return;
  auto& p = pipeline_[seq - first_seq_];
  if (p.answered) return;  // answered already (pump's fallback)
  order_.finish(p.keys);
  answer(p, reply);
  if (pumping_) return;  // pump() and on_read() go on from here
  // Possibly inside a batcher's flush (it may run on this strand): only what is cheap here;
  // requests this reply lets start are handed over in a handler of their own.
  write_answered();
  do_read();
  if (!pump_posted_ && can_start()) {
    pump_posted_ = true;
    net::post(ws_.get_executor(), [self = this->shared_from_this()] {
      self->pump_posted_ = false;
      self->pump();
      self->write_answered();
      self->do_read();
    });
  }
}

template <class Stream>
void WebsocketSession<Stream>::write_answered() {
  const bool idle = queue_.empty();
  // Only what pump() has handed over or stepped over: next_start_ never falls behind.
  while (!failed_ && first_seq_ < next_start_ && pipeline_.front().answered) {
    auto& p = pipeline_.front();
    for (auto& f : p.frames) {
      parked_bytes_ -= f.size();
      queued_bytes_ += f.size();
      queue_.push_back(std::move(f));
    }
    pipeline_bytes_ -= p.bytes;
    pipeline_.pop_front();
    ++first_seq_;
  }
  if (idle && !queue_.empty()) do_write();
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
  pump();  // a full write queue may have stopped it
  write_answered();
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
