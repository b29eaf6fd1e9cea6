#include "policy_client/connection.h"

#include <cstdio>
#include <cstdlib>
#include <thread>

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace tandem::client {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string new_episode_id(std::mt19937_64& rng) {
  char b[40];
  std::snprintf(b, sizeof b, "ep-%016llx", static_cast<unsigned long long>(rng()));
  return b;
}

std::optional<RequestError> error_of(const core::Reply& reply, const std::string& what) {
  const auto* e = std::get_if<core::Error>(&reply);
  if (!e) return std::nullopt;
  return RequestError(core::error_code_name(e->code), what, e->message);
}

Connection::Connection(const std::string& address, const ClientOptions& options)
    : client_id_(options.client_id), auth_token_(options.auth_token),
      reconnect_timeout_s_(options.reconnect_timeout_s) {
  if (auth_token_.empty())
    if (const char* t = std::getenv("TANDEM_TOKEN")) auth_token_ = t;
  std::string a = address;
  if (a.rfind("ws://", 0) == 0) a = a.substr(5);
  auto slash = a.find('/');
  if (slash != std::string::npos) {
    path_ = a.substr(slash);
    a = a.substr(0, slash);
  }
  auto colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size())
    throw std::invalid_argument("address must look like ws://HOST:PORT, got '" + address + "'");
  host_ = a.substr(0, colon);
  port_ = a.substr(colon + 1);
  endpoint_ = "ws://" + host_ + ":" + port_;
  // Request ids start at a random point so that the server can tell this client's resent
  // requests (duplicates) from another client's that carries an episode on.
  next_id_ = (rng() >> 2) | 1;
  // The identity the server keys exactly-once on: the caller's name (if any) and a random
  // incarnation of this Connection object. A restarted simulator, or a second client given
  // the same name, is thus a new client whose request ids start afresh.
  char incarnation[24];
  std::snprintf(incarnation, sizeof incarnation, "%016llx", static_cast<unsigned long long>(rng()));
  if (client_id_.size() > kMaxClientName)
    throw std::invalid_argument("client_id longer than " + std::to_string(kMaxClientName) + " characters");
  for (char c : client_id_)
    if (c < 0x21 || c > 0x7e || c == '/')
      throw std::invalid_argument("client_id must be printable ASCII without spaces or '/'");
  client_id_ = client_id_.empty() ? std::string(incarnation) : client_id_ + "/" + incarnation;
}

Connection::~Connection() { disconnect(); }

void Connection::disconnect() {
  if (!ws_) return;
  {
    std::lock_guard lk(fd_mu_);
    fd_ = -1;
  }
  // No close handshake: it would block forever on a server that stopped answering.
  beast::error_code ec;
  ws_->next_layer().shutdown(tcp::socket::shutdown_both, ec);
  ws_->next_layer().close(ec);
  ws_.reset();
}

void Connection::connect_once() {
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(host_, port_);
  auto s = std::make_unique<websocket::stream<tcp::socket>>(ioc_);
  net::connect(s->next_layer(), results);
  s->next_layer().set_option(tcp::no_delay(true));
  s->read_message_max(wire::kMaxFrameBytes);
  s->binary(true);
  s->set_option(websocket::stream_base::decorator([id = client_id_, token = auth_token_](websocket::request_type& req) {
    req.set("X-Tandem-Client", id);
    if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
  }));
  {
    std::lock_guard lk(fd_mu_);
    if (aborted_) throw ConnectionError("connection aborted");
    fd_ = s->next_layer().native_handle();  // abort() unblocks the handshake too
  }
  // Asynchronous, run to completion here: unlike the blocking handshake, it hands over the
  // server's response when the upgrade is declined (401, 400), which is not worth retrying.
  websocket::response_type res;
  beast::error_code ec;
  s->async_handshake(res, host_ + ":" + port_, path_, [&ec](beast::error_code e) { ec = e; });
  ioc_.restart();
  ioc_.run();
  if (ec == websocket::error::upgrade_declined && (res.result() == beast::http::status::unauthorized ||
                                                    res.result() == beast::http::status::bad_request))
    throw RefusedError("tandem-server at " + endpoint_ + " refused the connection (HTTP " +
                       std::to_string(res.result_int()) + "): " +
                       (res.result() == beast::http::status::unauthorized
                            ? std::string("missing or wrong auth token (ClientOptions::auth_token or TANDEM_TOKEN)")
                            : res.body().substr(0, 200)));
  if (ec) throw beast::system_error(ec);
  ws_ = std::move(s);
  buf_.clear();
}

void Connection::reconnect(const std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(reconnect_timeout_s_);
  auto backoff = std::chrono::milliseconds(20);
  for (;;) {
    try {
      disconnect();
      connect_once();
      for (auto& [rid, s] : unacked_) ws_->write(net::buffer(s.frame));
      break;
    } catch (const RefusedError&) {
      disconnect();
      throw;
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() + backoff > deadline)
        throw ConnectionError("cannot reach tandem-server at " + endpoint_ + " (" + why +
                              "; last: " + e.what() + ")");
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }
  ++reconnects;
}

void Connection::forget(uint64_t rid) { unacked_.erase(rid); }

void Connection::abort() {
  std::lock_guard lk(fd_mu_);
  aborted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Connection::send(uint64_t rid, const core::Request& request, std::string what) {
  // Bound the unanswered window: wait for the oldest reply first (its error is kept).
  while (unacked_.size() >= kMaxUnacked) {
    const uint64_t oldest = unacked_.begin()->first;
    const std::string w = unacked_.begin()->second.what;
    if (auto e = error_of(wait(oldest), w)) errors_.push_back(std::move(*e));
  }
  auto [it, ok] = unacked_.emplace(rid, Sent{wire::encode_request(rid, request), std::move(what)});
  try {
    if (!ws_) throw beast::system_error(net::error::not_connected);
    ws_->write(net::buffer(it->second.frame));
  } catch (const beast::system_error& e) {
    reconnect(e.code().message());  // resends this one too
  }
}

wire::DecodedReply Connection::read_frame() {
  if (!ws_) throw beast::system_error(net::error::not_connected);
  buf_.clear();
  ws_->read(buf_);
  auto data = buf_.data();
  auto d = wire::decode_reply({static_cast<const uint8_t*>(data.data()), data.size()});
  if (!d.status.ok()) throw ConnectionError("server sent an invalid frame: " + d.status.message);
  return d;
}

core::Reply Connection::wait(uint64_t rid) {
  for (;;) {
    wire::DecodedReply d;
    try {
      d = read_frame();
    } catch (const beast::system_error& e) {
      reconnect(e.code().message());
      continue;
    }
    auto it = unacked_.find(d.request_id);
    if (it == unacked_.end()) continue;  // a late duplicate reply, or a stray chunk
    std::string what = std::move(it->second.what);
    unacked_.erase(it);
    if (d.request_id == rid) return std::move(d.reply);
    if (auto e = error_of(d.reply, what)) errors_.push_back(std::move(*e));
  }
}

core::Reply Connection::wait_more(uint64_t rid) {
  for (;;) {
    wire::DecodedReply d;
    try {
      d = read_frame();
    } catch (const beast::system_error& e) {
      disconnect();
      throw ConnectionError("connection dropped during a chunked reply: " + e.code().message());
    }
    if (d.request_id == rid) return std::move(d.reply);
  }
}

void Connection::throw_pending() {
  if (errors_.empty()) return;
  auto e = errors_.front();
  errors_.clear();
  throw e;
}

core::Reply Connection::call(uint64_t rid, const core::Request& request, std::string what) {
  throw_pending();
  send(rid, request, what);
  auto reply = wait(rid);
  if (auto e = error_of(reply, what)) throw *e;
  return reply;
}

void Connection::drain() {
  while (!unacked_.empty()) {
    const uint64_t rid = unacked_.rbegin()->first;
    const std::string what = unacked_.rbegin()->second.what;
    if (auto e = error_of(wait(rid), what)) errors_.push_back(std::move(*e));
  }
}

}  // namespace tandem::client
