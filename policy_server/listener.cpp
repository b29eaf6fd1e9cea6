#include "policy_server/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>

#include "policy_server/http_session.h"
#include "policy_server/run_stats.h"

namespace tandem::server {

Listener::Listener(net::io_context& ioc, tcp::endpoint endpoint, bool use_strands, RequestHandler& handler,
                   RunStats& stats, HttpHandler http_handler, SessionOptions options,
                   std::shared_ptr<net::ssl::context> tls)
    : ioc_(ioc),
      acceptor_(ioc),
      use_strands_(use_strands),
      handler_(handler),
      stats_(stats),
      http_handler_(std::move(http_handler)),
      options_(std::make_shared<const SessionOptions>(std::move(options))),
      tls_(std::move(tls)),
      retry_(ioc) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

void Listener::run() { do_accept(); }

void Listener::do_accept() {
  // With one I/O thread the io_context itself serialises everything; strands only with more.
  if (use_strands_)
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  else
    acceptor_.async_accept(ioc_, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    // Out of file descriptors (or similar): retry in 100 ms, log at most once a second.
    const int64_t n = stats_.accept_failures.fetch_add(1) + 1;
    int64_t skipped = 0;
    if (accept_log_.allow(skipped))
      session_detail::log()->warn("accept failed: {} ({} failures so far); retrying in 100 ms", ec.message(), n);
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && self->acceptor_.is_open()) self->do_accept();
    });
    return;
  }
  auto registrar = [this](std::weak_ptr<ClosableSession> s) { add_session(std::move(s)); };
  if (tls_)
    std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *tls_), handler_, stats_, http_handler_,
                                             options_, std::move(registrar))
        ->run();
  else
    std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), handler_, stats_, http_handler_,
                                               options_, std::move(registrar))
        ->run();
  if (acceptor_.is_open()) do_accept();
}

void Listener::add_session(std::weak_ptr<ClosableSession> s) {
  std::lock_guard lk(mu_);
  std::erase_if(sessions_, [](auto& w) { return w.expired(); });
  sessions_.push_back(std::move(s));
}

void Listener::stop() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->retry_.cancel();
  });
}

void Listener::close_sessions() {
  std::lock_guard lk(mu_);
  for (auto& w : sessions_)
    if (auto s = w.lock()) s->close();
}

}  // namespace tandem::server
