#pragma once
// One WebSocket connection (ws:// on a PlainStream, wss:// on a TlsStream whose handshake
// the HttpSession has done).
//
// Data flow: do_read -> on_read (wire::decode_request: verified frame -> core::Request;
// RequestHandler::handle, which replies now or from an InferenceBatcher flush) -> send(rid,
// Reply) -> wire::encode_reply -> write queue -> do_write/on_write (one async_write in
// flight). All of a session's handlers run on its strand; send() from another thread
// dispatches onto it. Errors are error codes: a session never throws out of a handler.
//
// Order and bounds: the session serves ONE request at a time. It reads the next frame only
// after the reply of the current one was queued (a GetAction waiting in a batcher, a
// ReportSamples held for a busy learner), and only while fewer than kMaxQueuedFrames
// replies, and fewer than kMaxQueuedBytes bytes, wait to be written. Requests of one connection therefore apply in the order they
// were sent, whatever the batching or io_threads, and a client that never reads its replies
// stops being read (TCP pushes back) instead of growing the server's memory.
//
// A WebSocket from which no frame arrives for idle_timeout is closed.
#include <deque>
#include <memory>
#include <string>

#include <boost/beast/websocket.hpp>

#include "policy_server/reply_sink.h"
#include "policy_server/request_handler.h"
#include "policy_server/session.h"
#include "schemas/codec.h"

namespace tandem::server {

class RunStats;

template <class Stream>
class WebsocketSession : public ReplySink,
                         public ClosableSession,
                         public std::enable_shared_from_this<WebsocketSession<Stream>> {
 public:
  static constexpr size_t kMaxQueuedFrames = 64;
  static constexpr size_t kMaxQueuedBytes = size_t{4} << 20;  // reading pauses above this too

  WebsocketSession(Stream&& stream, RequestHandler& handler, RunStats& stats, std::string client,
                   std::shared_ptr<const SessionOptions> options);
  ~WebsocketSession() override;
  void run(http::request<http::string_body> req);
  void send(uint64_t request_id, core::Reply reply) override;
  void close() override;

 private:
  void on_accept(beast::error_code ec);
  void do_read();  // on the strand: reads on unless serving, full or closed
  void on_read(beast::error_code ec, std::size_t bytes);
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);

  beast::websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<wire::Frame> queue_;
  size_t queued_bytes_ = 0;  // sum of queue_'s frame sizes
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

extern template class WebsocketSession<PlainStream>;
extern template class WebsocketSession<TlsStream>;

}  // namespace tandem::server
