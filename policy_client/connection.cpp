#include "policy_client/connection.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace tandem::client {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;

namespace {
// The server's certificate did not verify: not retried (reconnecting would fail alike).
class UntrustedServer : public ConnectionError {
  using ConnectionError::ConnectionError;
};

bool is_ip_address(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}
}  // namespace

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
  const bool tls = a.rfind("wss://", 0) == 0;
  if (tls)
    a = a.substr(6);
  else if (a.rfind("ws://", 0) == 0)
    a = a.substr(5);
  auto slash = a.find('/');
  if (slash != std::string::npos) {
    path_ = a.substr(slash);
    a = a.substr(0, slash);
  }
  auto colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size())
    throw std::invalid_argument("address must look like ws://HOST:PORT or wss://HOST:PORT, got '" + address + "'");
  host_ = a.substr(0, colon);
  port_ = a.substr(colon + 1);
  endpoint_ = (tls ? "wss://" : "ws://") + host_ + ":" + port_;
  if (tls) {
    tls_ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls_ctx_->native_handle(), TLS1_2_VERSION);
    tls_ctx_->set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (options.tls_ca_file.empty()) {
      tls_ctx_->set_default_verify_paths(ec);
    } else {
      if (!std::ifstream(options.tls_ca_file))
        throw std::invalid_argument("tls_ca_file '" + options.tls_ca_file + "' cannot be read");
      tls_ctx_->load_verify_file(options.tls_ca_file, ec);
    }
    if (ec)
      throw std::invalid_argument("tls_ca_file '" + options.tls_ca_file +
                                  "': no PEM certificates to trust (" + ec.message() + ")");
  }
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

template <class F>
decltype(auto) Connection::with_ws(F&& f) {
  if (wss_) return f(*wss_);
  if (!ws_) throw beast::system_error(net::error::not_connected);
  return f(*ws_);
}

void Connection::disconnect() {
  if (!ws_ && !wss_) return;
  {
    std::lock_guard lk(fd_mu_);
    fd_ = -1;
  }
  // No close handshake (WebSocket or TLS): it would block forever on a server that stopped
  // answering.
  auto& socket = ws_ ? ws_->next_layer() : wss_->next_layer().next_layer();
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  ws_.reset();
  wss_.reset();
}

void Connection::connect_once() {
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(host_, port_);
  if (tls_ctx_) return connect_tls(results);
  auto s = std::make_unique<PlainWs>(ioc_);
  net::connect(s->next_layer(), results);
  {
    std::lock_guard lk(fd_mu_);
    if (aborted_) throw ConnectionError("connection aborted");
    fd_ = s->next_layer().native_handle();  // abort() unblocks the handshake too
  }
  upgrade(*s);
  ws_ = std::move(s);
  buf_.clear();
}

void Connection::connect_tls(const tcp::resolver::results_type& endpoints) {
  auto s = std::make_unique<TlsWs>(ioc_, *tls_ctx_);
  auto& tls = s->next_layer();
  net::connect(tls.next_layer(), endpoints);
  // The name (SNI set) or the address the certificate must carry, checked by OpenSSL during
  // the handshake with the chain (a mismatch is X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH).
  SSL* native = tls.native_handle();
  const bool named = is_ip_address(host_)
                         ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), host_.c_str()) == 1
                         : SSL_set_tlsext_host_name(native, host_.c_str()) == 1 && SSL_set1_host(native, host_.c_str()) == 1;
  if (!named) throw ConnectionError("cannot verify TLS certificates for host '" + host_ + "'");
  {
    std::lock_guard lk(fd_mu_);
    if (aborted_) throw ConnectionError("connection aborted");
    fd_ = tls.next_layer().native_handle();  // abort() unblocks both handshakes too
  }
  beast::error_code ec;
  tls.handshake(ssl::stream_base::client, ec);
  if (ec) {
    const long verify = SSL_get_verify_result(native);
    if (verify != X509_V_OK)
      throw UntrustedServer("tandem-server at " + endpoint_ + ": its TLS certificate is not trusted (" +
                            X509_verify_cert_error_string(verify) + "; see ClientOptions::tls_ca_file)");
    throw beast::system_error(ec);  // a plain server, a dropped connection: retried
  }
  upgrade(*s);
  wss_ = std::move(s);
  buf_.clear();
}

template <class Ws>
void Connection::upgrade(Ws& s) {
  beast::get_lowest_layer(s).set_option(tcp::no_delay(true));
  s.read_message_max(wire::kMaxFrameBytes);
  s.binary(true);
  s.set_option(websocket::stream_base::decorator([id = client_id_, token = auth_token_](websocket::request_type& req) {
    req.set("X-Tandem-Client", id);
    if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
  }));
  // Asynchronous, run to completion here: unlike the blocking handshake, it hands over the
  // server's response when the upgrade is declined (401, 400), which is not worth retrying.
  websocket::response_type res;
  beast::error_code ec;
  s.async_handshake(res, host_ + ":" + port_, path_, [&ec](beast::error_code e) { ec = e; });
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
}

void Connection::write_frame(const wire::Frame& frame) {
  with_ws([&](auto& ws) { ws.write(net::buffer(frame)); });
}

void Connection::reconnect(const std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(reconnect_timeout_s_);
  auto backoff = std::chrono::milliseconds(20);
  for (;;) {
    try {
      disconnect();
      connect_once();
      for (auto& [rid, s] : unacked_) write_frame(s.frame);
      break;
    } catch (const RefusedError&) {
      disconnect();
      throw;
    } catch (const UntrustedServer&) {
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

std::vector<Connection::UnackedFrame> Connection::take_unacked() {
  std::vector<UnackedFrame> out;
  for (auto& [rid, s] : unacked_) out.push_back({rid, std::move(s.frame), std::move(s.what), std::move(s.entries)});
  unacked_.clear();
  return out;
}

void Connection::abort() {
  std::lock_guard lk(fd_mu_);
  aborted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Connection::keep_errors(const core::Reply& reply, const std::string& what,
                             const std::vector<std::string>& entries) {
  if (auto e = error_of(reply, what)) errors_.push_back(std::move(*e));
  if (const auto* v = std::get_if<core::VectorReply>(&reply))
    for (size_t i = 0; i < v->replies.size(); ++i)
      if (const auto* err = std::get_if<core::Error>(&v->replies[i]))
        errors_.emplace_back(core::error_code_name(err->code), i < entries.size() ? entries[i] : what,
                             err->message);
}

void Connection::send(uint64_t rid, const core::Request& request, std::string what, std::vector<std::string> entries) {
  // Bound the unanswered window: wait for the oldest reply first (its error is kept).
  while (unacked_.size() >= kMaxUnacked) {
    const uint64_t oldest = unacked_.begin()->first;
    const std::string what = unacked_.begin()->second.what;
    const auto entries = unacked_.begin()->second.entries;
    keep_errors(wait(oldest), what, entries);
  }
  auto [it, ok] =
      unacked_.emplace(rid, Sent{wire::encode_request(rid, request), std::move(what), std::move(entries)});
  try {
    write_frame(it->second.frame);
  } catch (const beast::system_error& e) {
    reconnect(e.code().message());  // resends this one too
  }
}

wire::DecodedReply Connection::read_frame() {
  buf_.clear();
  with_ws([&](auto& ws) { ws.read(buf_); });
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
      // A server that accepts every connection and drops it before answering: give up after
      // reconnect_timeout_s without a reply, as when it cannot be reached at all.
      const auto now = std::chrono::steady_clock::now();
      if (!failing_since_) {
        failing_since_ = now;
      } else if (now - *failing_since_ > std::chrono::duration<double>(reconnect_timeout_s_)) {
        failing_since_.reset();
        disconnect();
        throw ConnectionError("tandem-server at " + endpoint_ +
                              " keeps dropping the connection without answering (last: " + e.code().message() + ")");
      }
      try {
        reconnect(e.code().message());
      } catch (...) {
        failing_since_.reset();  // a later call starts its count afresh
        throw;
      }
      continue;
    }
    failing_since_.reset();
    auto it = unacked_.find(d.request_id);
    if (it == unacked_.end()) continue;  // a late duplicate reply, or a stray chunk
    const std::string what = std::move(it->second.what);
    const auto entries = std::move(it->second.entries);
    unacked_.erase(it);
    if (d.request_id == rid) return std::move(d.reply);
    keep_errors(d.reply, what, entries);
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
  auto e = first_of(errors_);
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
    const auto entries = unacked_.rbegin()->second.entries;
    keep_errors(wait(rid), what, entries);
  }
}

}  // namespace tandem::client
