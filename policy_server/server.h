#pragma once
// A whole policy server: io_context + listener + sessions, per-policy batchers, the
// learner thread, the idle-episode sweeper. Used by tandem-server and by the tests
// (which run it in-process on an ephemeral port).
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policy_server/server_config.h"

namespace tandem::server {

class Listener;
class Learner;
class RequestHandler;
struct ServerContext;

class Server {
 public:
  explicit Server(ServerConfig cfg);
  ~Server();
  void start();              // binds, starts the I/O threads and the learner
  uint16_t port() const;     // the bound port (after start)
  void stop();               // stop accepting, close sessions, flush results, join threads
  void wait();               // blocks until stop() or a stop criterion
  void request_stop();       // from any thread (not from a signal handler)
  // SIGINT/SIGTERM stop the server (boost::asio::signal_set on its io_context).
  void stop_on_signals();
  const ServerContext& context() const { return *ctx_; }
  ServerContext& context() { return *ctx_; }
  const ServerConfig& config() const;
  std::string metrics_text() const;  // Prometheus exposition
  bool failed() const;               // stopped because training kept failing
  bool group_failed() const;         // stopped because its replica group broke (group_on_failure "exit")

 private:
  void schedule_sweep();
  std::unique_ptr<boost::asio::io_context> ioc_;  // first in, last out: see ~Server
  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<RequestHandler> handler_;
  std::shared_ptr<Listener> listener_;
  std::unique_ptr<Learner> learner_;
  std::unique_ptr<boost::asio::steady_timer> sweep_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool stopped_ = false;
};

}  // namespace tandem::server
