#pragma once
// One WebSocket connection (ws:// on a PlainStream, wss:// on a TlsStream whose handshake
// the HttpSession has done).
//
// Data flow: do_read -> on_read (wire::decode_request: verified frame -> core::Request) ->
// pipeline_ -> pump(): RequestHandler::handle, which replies now or from an InferenceBatcher
// flush, through a ReplySlot of its own -> on_reply -> the replies in request order ->
// wire::encode_reply -> write queue -> do_write/on_write (one async_write in flight). All
// of a session's handlers run on its strand; a slot's send() from another thread
// dispatches onto it. Errors are error codes: a session never throws out of a handler.
//
// Pipelining and order: the session reads on while earlier requests wait for their replies
// (a GetAction in a batcher, a ReportSamples held for a busy learner), up to kMaxPipelined
// requests and kMaxPipelinedBytes of their frames. The next read starts before a request
// is handed over, so frames that have arrived already join the same forward pass. Requests
// start strictly in the order they were sent; one may start while earlier ones are in
// flight only if it is about other episodes (RequestOrder): each episode, and the
// connection, sees its requests applied in order whatever the batching or io_threads.
// Replies are written in request order.
//
// A reply is encoded when it comes. A reply that comes inside a batcher's flush (which may
// run on this strand) is queued at once, but the requests it lets start are handed over in
// a handler of their own, never inside the flush.
//
// Bounds: reading pauses, and so does handing requests over, while kMaxQueuedFrames
// replies, or kMaxQueuedBytes bytes of replies (queued, or encoded and waiting behind an
// earlier request), wait to be written. A client that never reads its replies stops being
// read (TCP pushes back) instead of growing the server's memory. The bound is checked when
// a request starts: the replies of requests already in flight (at most kMaxPipelined) come
// on top. The pipeline's bound is checked before each read, so it holds to within one frame
// (wire::kMaxFrameBytes).
//
// A WebSocket from which no frame arrives for idle_timeout is closed.
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/websocket.hpp>

#include "policy_server/reply_sink.h"
#include "policy_server/request_handler.h"
#include "policy_server/request_order.h"
#include "policy_server/session.h"
#include "schemas/codec.h"

namespace tandem::server {

class RunStats;

template <class Stream>
class WebsocketSession : public ClosableSession,
                         public std::enable_shared_from_this<WebsocketSession<Stream>> {
 public:
  static constexpr size_t kMaxQueuedFrames = 64;
  static constexpr size_t kMaxQueuedBytes = size_t{4} << 20;  // reading pauses above this too
  static constexpr size_t kMaxPipelined = 64;  // requests read and not yet answered
  static constexpr size_t kMaxPipelinedBytes = size_t{4} << 20;  // their frames' bytes

  WebsocketSession(Stream&& stream, RequestHandler& handler, RunStats& stats, std::string client,
                   std::shared_ptr<const SessionOptions> options);
  ~WebsocketSession() override;
  void run(http::request<http::string_body> req);
  void close() override;

 private:
  class ReplySlot;
  // A request read and not yet written back, in read order.
  struct Pipelined {
    uint64_t request_id = 0;
    size_t bytes = 0;                      // of its frame
    uint64_t fingerprint = 0;
    OrderKeys keys;
    std::optional<core::Request> request;  // until handed over
    bool answered = false;
    std::vector<wire::Frame> frames;       // its reply, encoded, until written
  };

  void on_accept(beast::error_code ec);
  void do_read();  // on the strand: reads on unless full or closed
  void on_read(beast::error_code ec, std::size_t bytes);
  void pump();     // hands over the requests that may start now, in order
  bool can_start() const;  // the next request may be handed over (or skipped) now
  void on_reply(uint64_t seq, core::Reply reply);
  void answer(Pipelined& p, const core::Reply& reply);
  bool writes_full() const;  // replies queued or parked reach the write-queue bound
  void write_answered();  // the answered requests at the front -> the write queue
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
  std::deque<Pipelined> pipeline_;
  uint64_t first_seq_ = 0;     // sequence number of pipeline_.front()
  uint64_t next_start_ = 0;    // sequence number of the next request to hand over
  size_t pipeline_bytes_ = 0;  // sum of pipeline_'s frame sizes
  size_t parked_bytes_ = 0;    // replies encoded, waiting behind an earlier request
  RequestOrder order_;
  bool pumping_ = false;
  bool pump_posted_ = false;
  bool failed_ = false;
  std::string peer_;  // remote address:port, for the log
};

extern template class WebsocketSession<PlainStream>;
extern template class WebsocketSession<TlsStream>;

}  // namespace tandem::server
