#pragma once
// Accepts connections on one port and hands each to an HttpSession: a plain one (ws://,
// http://) or, with a TLS context, a TLS one (wss://, https://; every connection on the port).
// Keeps weak references to the WebSocket sessions so that stop() can close them.
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policy_server/session.h"

namespace boost::asio::ssl {
class context;
}

namespace tandem::server {

class RequestHandler;
class RunStats;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // `tls`: null serves plain connections; else every connection is TLS with this context.
  Listener(net::io_context& ioc, tcp::endpoint endpoint, bool use_strands, RequestHandler& handler,
           RunStats& stats, HttpHandler http_handler, SessionOptions options,
           std::shared_ptr<net::ssl::context> tls = nullptr);
  void run();
  void stop();
  uint16_t port() const { return port_; }
  bool tls() const { return tls_ != nullptr; }
  void close_sessions();

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void add_session(std::weak_ptr<ClosableSession> s);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  bool use_strands_;
  RequestHandler& handler_;
  RunStats& stats_;
  HttpHandler http_handler_;
  const std::shared_ptr<const SessionOptions> options_;
  const std::shared_ptr<net::ssl::context> tls_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::weak_ptr<ClosableSession>> sessions_;
  net::steady_timer retry_;  // accept failures (EMFILE...) back off instead of spinning
  LogLimiter accept_log_;
};

}  // namespace tandem::server
