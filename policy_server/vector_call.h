#pragma once
// A VectorRequest in flight: its entries apply one by one, in order, through the same
// RequestHandler paths as single requests, and the frame is answered with one VectorReply.
//
// Data flow: RequestHandler::handle (the session's I/O thread) -> run(). Each entry is
// applied with this object as its ReplySink (request id = the entry's index).
// StartEpisode / LogReturns / EndEpisode entries answer at once; GetAction / LogAction
// entries go to their policies' batchers, so the actions of the whole frame (and of other
// connections) share one forward pass per policy. An entry about an episode that still has
// an entry of this frame in flight waits until that one is answered (RequestOrder, as for
// requests pipelined on one connection), so each episode's entries apply in frame order,
// as single calls on one connection would. When the last entry is answered, `finish` gets
// the VectorReply.
//
// Threads: run() on the caller's thread; send() on any thread (batcher flushes), under mu_.
// run() is never active twice at once: a send() that frees the waiting entry (or answers
// the last one) posts the rest of the frame to the io_context (never inside the batcher's
// completion loop) and only when run() is not active.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/messages.h"
#include "policy_server/reply_sink.h"
#include "policy_server/request_order.h"

namespace tandem::server {

class VectorCall final : public ReplySink, public std::enable_shared_from_this<VectorCall> {
 public:
  // Applies one entry; its one reply comes back through caller.sink->send(index, reply).
  using Apply = std::function<void(Caller caller, const core::EpisodeRequest& entry)>;
  using Finish = std::function<void(core::VectorReply reply)>;
  // Runs a task later on an I/O thread (the io_context).
  using Post = std::function<void(std::function<void()>)>;

  VectorCall(std::string client, core::VectorRequest request, Apply apply, Finish finish, Post post);

  // Starts applying the entries (once).
  void run();
  // An entry's reply (any thread).
  void send(uint64_t index, core::Reply reply) override;

 private:
  // Under mu_: the loop is not running and has something to do now.
  bool ready_to_resume() const;

  const std::string client_;
  const core::VectorRequest request_;
  const std::vector<OrderKeys> keys_;    // one per entry
  Apply apply_;
  Finish finish_;
  Post post_;
  std::mutex mu_;                        // guards everything below
  std::vector<core::EpisodeReply> replies_;
  std::vector<char> answered_;           // an entry is answered once
  size_t next_ = 0;                      // the next entry to apply
  RequestOrder order_;                   // entries applied and not yet answered
  bool running_ = false;                 // the apply loop is active
  bool finished_ = false;
};

}  // namespace tandem::server
