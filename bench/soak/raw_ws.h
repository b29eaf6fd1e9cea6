#pragma once
// A raw WebSocket to the soak's server with a deadline on every operation (RawWs), and the
// request helpers the hostile clients build on: call (send + one reply, checked), expect_error,
// connect_counted.
//
// Thread rules: a RawWs (its io_context and handlers) belongs to the one thread that made it;
// nothing here waits for ever. The helpers record into run_state (atomics, g_fail).
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "core/messages.h"
#include "schemas/codec.h"
#include "support/frame_inbox.h"

namespace tandem::soak {

class RawWs {
 public:
  RawWs();
  ~RawWs() { abort(); }
  RawWs(const RawWs&) = delete;
  RawWs& operator=(const RawWs&) = delete;

  // TCP connect + upgrade (with X-Tandem-Client: client_id unless empty) within timeout_s.
  bool connect(uint16_t port, const std::string& client_id, double timeout_s = 10);
  // false: not written within timeout_s (the write stays pending; only abort() is left), or failed.
  bool send(const wire::Frame& frame, double timeout_s = 10, bool text = false);
  bool send(uint64_t rid, const core::Request& r, double timeout_s = 10) {
    return send(wire::encode_request(rid, r), timeout_s);
  }
  // The next frame; nullopt when none arrives within timeout_s or the connection is gone.
  std::optional<wire::Frame> read(double timeout_s = 20);
  // Closes the socket without a close handshake.
  void abort();

 private:
  using Ws = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;
  struct Op {
    bool done = false;
    boost::beast::error_code ec;
    wire::Frame frame;
  };
  using ReadState = test::FrameInbox;
  void start_read();

  boost::asio::io_context ioc_;  // first: destroyed last
  std::unique_ptr<Ws> ws_;
  std::shared_ptr<ReadState> rs_;
  bool open_ = false;
  bool write_pending_ = false;
};

// Connects `ws` as `id` and counts the connection for `kind`; on failure records it (unless
// the soak is stopping), naps 1 s and returns false (the caller retries).
bool connect_counted(int kind, RawWs& ws, uint16_t port, const std::string& id);

// Sends and reads one reply for request `rid`; nullopt (and a failure recorded) if none.
std::optional<core::Reply> call(int kind, RawWs& ws, uint64_t rid, const wire::Frame& frame,
                                std::string* reply_bytes = nullptr, double timeout_s = 30);
std::optional<core::Reply> call(int kind, RawWs& ws, uint64_t rid, const core::Request& r);

// A request that must be refused: any Error counts; anything else is a failure.
void expect_error(int kind, RawWs& ws, uint64_t rid, const core::Request& r, const char* what);

core::AgentObs agent_obs(std::vector<float> obs, std::string agent = "agent0");
std::vector<float> vec(const std::array<float, 4>& a);

}  // namespace tandem::soak
