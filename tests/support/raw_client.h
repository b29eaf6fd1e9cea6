#pragma once
// A bare WebSocket connection to a tandem-server for tests that need control over the wire:
// exact request ids, byte-identical resends, pipelining without waiting, several connections
// under one client id.
//
//   test::RawClient c(port, "client-1");          // X-Tandem-Client: client-1 on the upgrade
//   auto r = c.call(1, core::StartEpisode{"e1"});   // send + read, the echoed id checked
//   auto f = wire::encode_request(2, req);          // keep the bytes to resend them
//   c.send_bytes(f);
//   if (!c.readable_within(0.05)) { ... }          // held; the next read() returns it
//
// Every operation has a deadline and fails the test (doctest REQUIRE/FAIL) when it passes:
// nothing here waits for ever. A read is always outstanding, so replies are taken off the
// socket while requests are written (a pipelining test cannot deadlock on full buffers).
// Not thread-safe: one thread per RawClient.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "core/messages.h"
#include "core/status.h"
#include "schemas/codec.h"
#include "frame_inbox.h"
#include "run_until.h"

namespace tandem::test {

// "Ack", "EpisodeStarted{e1}", "Error{UnknownEpisode: ...}" (for failure messages).
inline std::string describe(const core::Reply& r) {
  std::string s = core::reply_name(r);
  if (const auto* e = std::get_if<core::Error>(&r))
    s += std::string("{") + core::error_code_name(e->code) + ": " + e->message + "}";
  else if (const auto* es = std::get_if<core::EpisodeStarted>(&r))
    s += "{" + es->episode_id + "}";
  else if (const auto* a = std::get_if<core::Actions>(&r))
    s += "{" + std::to_string(a->actions.size()) + " actions, v" + std::to_string(a->policy_version) + "}";
  return s;
}

template <typename T>
bool is(const core::Reply& r) {
  return std::holds_alternative<T>(r);
}

inline bool is_error(const core::Reply& r, core::ErrorCode code) {
  const auto* e = std::get_if<core::Error>(&r);
  return e && e->code == code;
}

class RawClient {
 public:
  explicit RawClient(uint16_t port, std::string client_id = "", double timeout_s = 10)
      : client_id_(std::move(client_id)), ws_(std::make_unique<Ws>(ioc_)) {
    namespace websocket = boost::beast::websocket;
    namespace net = boost::asio;
    if (!client_id_.empty())
      ws_->set_option(websocket::stream_base::decorator(
          [id = client_id_](websocket::request_type& req) { req.set("X-Tandem-Client", id); }));
    ws_->read_message_max(wire::kMaxFrameBytes + (1u << 16));
    auto st = std::make_shared<OpState>();
    ws_->next_layer().async_connect(
        net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
        [st](boost::beast::error_code ec) {
          st->ec = ec;
          st->done = true;
        });
    REQUIRE_MESSAGE(run_until([&] { return st->done; }, deadline(timeout_s)),
                    "connect to 127.0.0.1:" << port << " did not complete within " << timeout_s << " s");
    REQUIRE_MESSAGE(!st->ec, "connect to 127.0.0.1:" << port << ": " << st->ec.message());
    boost::beast::error_code ignored;
    ws_->next_layer().set_option(net::ip::tcp::no_delay(true), ignored);
    st = std::make_shared<OpState>();
    ws_->async_handshake("127.0.0.1:" + std::to_string(port), "/", [st](boost::beast::error_code ec) {
      st->ec = ec;
      st->done = true;
    });
    REQUIRE_MESSAGE(run_until([&] { return st->done; }, deadline(timeout_s)),
                    "WebSocket handshake with 127.0.0.1:" << port << " did not complete within "
                                                          << timeout_s << " s");
    REQUIRE_MESSAGE(!st->ec, "WebSocket handshake with 127.0.0.1:" << port << ": " << st->ec.message());
    ws_->binary(true);
    state_ = std::make_shared<ReadState>();
    start_read();
  }
  // Closes the socket without a close handshake (like a client that goes away); pending
  // operations are dropped with the io_context, never run.
  ~RawClient() {
    boost::beast::error_code ignored;
    ws_->next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    ws_->next_layer().close(ignored);
    ws_.reset();
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  const std::string& client_id() const { return client_id_; }

  void send(uint64_t rid, const core::Request& request) { send_bytes(wire::encode_request(rid, request)); }

  void send_bytes(const wire::Frame& frame, double timeout_s = 10) {
    auto st = std::make_shared<OpState>();
    st->frame = frame;  // lives as long as the operation
    ws_->async_write(boost::asio::buffer(st->frame), [st](boost::beast::error_code ec, std::size_t) {
      st->ec = ec;
      st->done = true;
    });
    REQUIRE_MESSAGE(run_until([&] { return st->done; }, deadline(timeout_s)),
                    "writing a frame did not complete within " << timeout_s << " s");
    REQUIRE_MESSAGE(!st->ec, "writing a frame failed: " << st->ec.message());
  }

  // Several binary messages in ONE write on the socket, WebSocket framing done here (masked,
  // as a client must, with a zero key): they reach the server together, as a burst of
  // pipelined requests from a fast client would.
  void send_burst(const std::vector<wire::Frame>& frames, double timeout_s = 10) {
    auto st = std::make_shared<OpState>();
    for (const auto& f : frames) {
      st->frame.push_back(0x82);  // FIN, binary
      const uint64_t n = f.size();
      if (n < 126) {
        st->frame.push_back(static_cast<uint8_t>(0x80 | n));
      } else if (n <= 0xFFFF) {
        st->frame.push_back(0x80 | 126);
        for (int s = 8; s >= 0; s -= 8) st->frame.push_back(static_cast<uint8_t>(n >> s));
      } else {
        st->frame.push_back(0x80 | 127);
        for (int s = 56; s >= 0; s -= 8) st->frame.push_back(static_cast<uint8_t>(n >> s));
      }
      st->frame.insert(st->frame.end(), 4, 0);  // masking key 0: the payload as it is
      st->frame.insert(st->frame.end(), f.begin(), f.end());
    }
    boost::asio::async_write(ws_->next_layer(), boost::asio::buffer(st->frame),
                             [st](boost::beast::error_code ec, std::size_t) {
                               st->ec = ec;
                               st->done = true;
                             });
    REQUIRE_MESSAGE(run_until([&] { return st->done; }, deadline(timeout_s)),
                    "writing a burst did not complete within " << timeout_s << " s");
    REQUIRE_MESSAGE(!st->ec, "writing a burst failed: " << st->ec.message());
  }

  // The next reply frame, decoded (its status says whether it was a valid reply). Fails the
  // test when none arrives within timeout_s or the connection closed.
  wire::DecodedReply read(double timeout_s = 10) {
    run_until([&] { return !state_->inbox.empty() || state_->error; }, deadline(timeout_s));
    if (state_->inbox.empty()) {
      if (state_->error) FAIL("connection closed while waiting for a reply: " << state_->error.message());
      FAIL("no reply within " << timeout_s << " s");
      throw std::logic_error("unreachable");
    }
    const wire::Frame f = std::move(state_->inbox.front());
    state_->inbox.pop_front();
    return wire::decode_reply(f);
  }

  // Whether a reply arrives within `seconds`; it stays queued for the next read().
  bool readable_within(double seconds) {
    run_until([&] { return !state_->inbox.empty() || state_->error; }, deadline(seconds));
    return !state_->inbox.empty();
  }

  // send + read: requires a valid reply echoing `rid`.
  core::Reply call(uint64_t rid, const core::Request& request, double timeout_s = 10) {
    send(rid, request);
    return expect(rid, timeout_s);
  }
  // read: requires a valid reply echoing `rid`.
  core::Reply expect(uint64_t rid, double timeout_s = 10) {
    auto d = read(timeout_s);
    REQUIRE_MESSAGE(d.status.ok(), "invalid reply frame: " << d.status.message);
    REQUIRE_MESSAGE(d.request_id == rid,
                    "reply for request " << d.request_id << " (" << describe(d.reply)
                                         << ") while waiting for request " << rid);
    return d.reply;
  }

  // Reads until every one of `rids` has its reply (in any order; each exactly once, no reply
  // for another id); returns them in the order of `rids`. One frame per reply (no chunked
  // Weights). timeout_s bounds the whole.
  std::vector<core::Reply> read_all_for(const std::vector<uint64_t>& rids, double timeout_s = 30) {
    const auto end = deadline(timeout_s);
    std::set<uint64_t> wanted(rids.begin(), rids.end());
    REQUIRE_MESSAGE(wanted.size() == rids.size(), "read_all_for: request ids repeat");
    std::map<uint64_t, core::Reply> got;
    while (got.size() < rids.size()) {
      const double left = std::chrono::duration<double>(end - Clock::now()).count();
      REQUIRE_MESSAGE(left > 0, "only " << got.size() << " of " << rids.size() << " replies within "
                                        << timeout_s << " s");
      auto d = read(left);
      REQUIRE_MESSAGE(d.status.ok(), "invalid reply frame: " << d.status.message);
      REQUIRE_MESSAGE(wanted.count(d.request_id) == 1,
                      "reply for unexpected request " << d.request_id << ": " << describe(d.reply));
      REQUIRE_MESSAGE(got.count(d.request_id) == 0,
                      "second reply for request " << d.request_id << ": " << describe(d.reply));
      got.emplace(d.request_id, std::move(d.reply));
    }
    std::vector<core::Reply> out;
    out.reserve(rids.size());
    for (auto rid : rids) out.push_back(std::move(got.at(rid)));
    return out;
  }

  // The server closed the connection (or it failed) and no reply is left to read.
  bool closed() {
    if (ioc_.stopped()) ioc_.restart();
    ioc_.poll();
    return state_->inbox.empty() && state_->error;
  }

 private:
  using Clock = std::chrono::steady_clock;
  using Ws = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;
  struct OpState {
    bool done = false;
    boost::beast::error_code ec;
    wire::Frame frame;
  };
  using ReadState = FrameInbox;

  static Clock::time_point deadline(double seconds) { return deadline_after(seconds); }

  // Runs handlers until done() or the deadline; returns done().
  template <typename Done>
  bool run_until(Done done, Clock::time_point end) {
    return test::run_until(ioc_, done, end);
  }

  void start_read() {
    read_frame_into(*ws_, state_, [this] { start_read(); });
  }

  std::string client_id_;
  boost::asio::io_context ioc_;  // declared first: destroyed last, with any pending handler
  std::unique_ptr<Ws> ws_;
  std::shared_ptr<ReadState> state_;
};

}  // namespace tandem::test
