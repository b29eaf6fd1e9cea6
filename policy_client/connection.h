#pragma once
// One blocking WebSocket connection to a tandem-server, as the PolicyClient uses it: send a
// request, read replies until the one wanted arrives, reconnect and resend on failure.
// ws:// is plain TCP; wss:// is TLS (1.2+) with the server's certificate verified against
// ClientOptions::tls_ca_file (a CA bundle, or the server's self-signed certificate to pin),
// or the system's trust store when that is empty, and its name or address checked against
// HOST (SNI set for a name). A certificate that fails verification is not retried.
//
//   send(rid, Request) -> encoded frame kept in unacked[rid] -> the server answers in order
//   -> wait(rid) returns the decoded Reply; replies to earlier pipelined requests seen on the
//   way are matched and, when they are Errors, kept for the caller to throw.
//
// Identity: every connection of one Connection object sends the same X-Tandem-Client id
// (an optional name plus a random incarnation of this object) at the WebSocket upgrade, so the server recognises a request resent after a reconnect (same
// id, same request id, same bytes) and answers it with the original's reply, applying it
// once. Request ids start at a random point and increase. At most kMaxUnacked requests are
// unanswered at a time (send() first waits for the oldest), which bounds the resend window
// well inside the server's (RequestLedger::kWindow).
//
// Not thread-safe: the owner serialises every call (remote mode: the client's mutex; local
// mode: its background thread).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "policy_client/policy_client.h"
#include "core/messages.h"
#include "schemas/codec.h"

namespace tandem::client {

// A unique episode id ("ep-" and 16 hex digits) for start_episode() without one.
std::string new_episode_id(std::mt19937_64& rng);

// The RequestError an Error reply stands for (nullopt for any other reply).
std::optional<RequestError> error_of(const core::Reply& reply, const std::string& what);

// The reply as T, or ConnectionError naming what came instead (the server broke the protocol).
template <class T>
T expect_reply(core::Reply reply, const std::string& what) {
  if (auto* t = std::get_if<T>(&reply)) return std::move(*t);
  throw ConnectionError("server answered " + what + " with " + core::reply_name(reply));
}

class Connection {
 public:
  // `address`: ws://HOST:PORT[/path] or wss://HOST:PORT[/path]. Throws std::invalid_argument
  // for a malformed address or an unreadable options.tls_ca_file.
  static constexpr size_t kMaxUnacked = 64;
  static constexpr size_t kMaxClientName = 40;  // + "/" + 16 hex digits fits the server's 64

  // options.client_id: a name for the X-Tandem-Client header ("NAME/INCARNATION"; empty:
  // only the random incarnation); options.auth_token (else $TANDEM_TOKEN) is sent as
  // "Authorization: Bearer". Throws std::invalid_argument for a name that does not fit.
  Connection(const std::string& address, const ClientOptions& options);
  ~Connection();  // closes the socket without a close handshake (never blocks)

  // (Re)connects with exponential backoff for up to reconnect_timeout_s (throws
  // ConnectionError after that), then resends every unanswered request in order.
  void reconnect(const std::string& why);
  bool connected() const { return ws_ != nullptr || wss_ != nullptr; }
  void set_reconnect_timeout(double s) { reconnect_timeout_s_ = s; }
  // Drops the socket (the next send or read reconnects).
  void disconnect();

  uint64_t next_id() { return next_id_++; }
  // `entries`: for a VectorRequest, the name of each entry (an Error in the reply's entry i
  // is kept as a RequestError naming entries[i]).
  void send(uint64_t rid, const core::Request& request, std::string what, std::vector<std::string> entries = {});
  // Reads replies until the one for `rid` arrives.
  core::Reply wait(uint64_t rid);
  // A further reply frame for `rid` (chunked Weights). Throws ConnectionError when the
  // connection dropped meanwhile (the rest of the chunks is lost with it).
  core::Reply wait_more(uint64_t rid);
  // send + wait; throws RequestError for an Error reply, or a kept pipelined error first.
  core::Reply call(uint64_t rid, const core::Request& request, std::string what);
  // call() for a reply of type T (ConnectionError for any other type).
  template <class T>
  T call_as(uint64_t rid, const core::Request& request, std::string what) {
    return expect_reply<T>(call(rid, request, what), what);
  }
  // Waits for every unanswered request; keeps their errors.
  void drain();
  void throw_pending();
  // Keeps an error for the next call to throw (a pipelined call answered inside another's reply).
  void keep(RequestError e) { errors_.push_back(std::move(e)); }
  bool has_unacked() const { return !unacked_.empty(); }
  // Drops an unanswered request: it is not resent after a reconnect.
  void forget(uint64_t rid);
  // Replica group: every unanswered request (in request-id order), forgotten here, and the
  // kept errors, cleared here (the group replays or throws them).
  struct UnackedFrame {
    uint64_t rid = 0;
    wire::Frame frame;
    std::string what;
    std::vector<std::string> entries;
  };
  std::vector<UnackedFrame> take_unacked();
  std::vector<RequestError> take_errors() { return std::exchange(errors_, {}); }
  // From another thread: fails the blocking call in progress (shutdown of the socket) and
  // every later connect, so the owner's thread gets a ConnectionError and can finish.
  void abort();

  const std::string& endpoint() const { return endpoint_; }
  int64_t reconnects = 0;
  std::mt19937_64 rng{std::random_device{}()};

 private:
  using PlainWs = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;
  using TlsWs = boost::beast::websocket::stream<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>>;

  void connect_once();
  void connect_tls(const boost::asio::ip::tcp::resolver::results_type& endpoints);
  template <class Ws>
  void upgrade(Ws& ws);  // the WebSocket handshake on a connected (and TLS) stream
  template <class F>
  decltype(auto) with_ws(F&& f);  // f(the open stream, plain or TLS)
  void write_frame(const wire::Frame& frame);
  wire::DecodedReply read_frame();

  std::string host_, port_, path_ = "/", endpoint_, client_id_, auth_token_;
  double reconnect_timeout_s_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ssl::context> tls_ctx_;  // wss:// only
  std::unique_ptr<PlainWs> ws_;                          // at most one of ws_, wss_ is open
  std::unique_ptr<TlsWs> wss_;
  boost::beast::flat_buffer buf_;
  uint64_t next_id_ = 1;
  struct Sent {
    wire::Frame frame;
    std::string what;
    std::vector<std::string> entries;  // a VectorRequest's entry names
  };
  // A pipelined request's reply: its Errors (a VectorReply's too) are kept for the next call.
  void keep_errors(const core::Reply& reply, const std::string& what, const std::vector<std::string>& entries);
  std::map<uint64_t, Sent> unacked_;  // sent, not answered yet (resent after a reconnect)
  std::vector<RequestError> errors_;  // errors of pipelined requests, thrown by the next call
  std::optional<std::chrono::steady_clock::time_point> failing_since_;  // first read failure since the last reply
  std::mutex fd_mu_;                  // guards fd_ and aborted_ (abort() runs on another thread)
  int fd_ = -1;
  bool aborted_ = false;
};

}  // namespace tandem::client
