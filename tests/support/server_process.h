#pragma once
// A tandem-server as a real second process, for integration tests that must not share the
// server's address space (exactly-once across connections, restarts, what reaches the
// learner as seen from outside).
//
//   test::ServerProcess server(config_json, "my_test", {"--no-train"});
//   test::RawClient c(server.port(), "client-1");            // or PolicyClient(server.address())
//   CHECK(server.metric("tandem_episodes_total") == 1);       // GET /metrics (plain HTTP only)
//   server.restart_on_same_port();                            // SIGTERM, wait, spawn again
//   CHECK(server.stop() == 0);                                // exit code
//
// The binary is TANDEM_SERVER_BIN (a string macro the test CMake defines; the environment
// variable of the same name overrides it). It runs as `BIN -c test_results/NAME/server_config.json
// --port 0 EXTRA...`; the constructor waits (20 s) for its first stdout line
// `listening on ws://HOST:PORT` (or wss:// when EXTRA has the TLS flags; address() follows). Everything under test_results/NAME is removed first; the
// server's stderr goes to test_results/NAME/server.stderr.log, its stdout (drained by a
// thread, so the child never blocks on a full pipe) to server.stdout.log. The destructor
// kills the child (SIGKILL); a child also gets SIGKILL when the thread that spawned it exits
// (PR_SET_PDEATHSIG), so spawn from the test's own thread.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_get.h"
#include "prometheus_text.h"

#ifndef TANDEM_SERVER_BIN
#error "TANDEM_SERVER_BIN must be defined as the path of the built tandem-server binary"
#endif

namespace tandem::test {

using Clock = std::chrono::steady_clock;

// Where a test's files go: test_results/NAME (relative to the working directory).
inline std::string results_path(const std::string& name) { return "test_results/" + name; }

// Polls pred every 5 ms for up to `seconds`; returns its last value.
template <typename Pred>
bool eventually(Pred pred, double seconds = 10) {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// GET http://127.0.0.1:PORT/TARGET with a deadline; fails the test unless it answers 200.
inline std::string http_get(uint16_t port, const std::string& target, double timeout_s = 10) {
  const HttpResponse res = try_http_get(port, target, timeout_s);
  REQUIRE_MESSAGE(res.ok(), "GET http://127.0.0.1:" << port << target << " failed: " << res.error);
  REQUIRE_MESSAGE(res.status == 200, "GET " << target << " answered " << res.status << ": " << res.body);
  return res.body;
}

// The last `max_bytes` of a file (for failure messages).
inline std::string file_tail(const std::string& path, size_t max_bytes = 3000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? "..." + s.substr(s.size() - max_bytes) : s;
}

class ServerProcess {
 public:
  // Listen::Later: the constructor only spawns; try_await_listening() waits for the line
  // (a replica group: rank 0 listens only once every rank has joined).
  enum class Listen { Wait, Later };
  ServerProcess(nlohmann::json config, std::string name, std::vector<std::string> extra_args = {},
                Listen listen = Listen::Wait)
      : config_(std::move(config)), name_(std::move(name)), extra_args_(std::move(extra_args)) {
    REQUIRE_MESSAGE((!name_.empty() && name_.find("..") == std::string::npos && name_[0] != '/'),
                    "bad test name '" << name_ << "'");
    dir_ = results_path(name_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::create_directories(dir_, ec);
    REQUIRE_MESSAGE(!ec, "cannot create " << dir_ << ": " << ec.message());
    if (config_.contains("output") && config_["output"].is_string()) {
      const std::string out = config_["output"].get<std::string>();
      std::filesystem::remove_all(out, ec);  // stale files from an earlier run
      std::filesystem::create_directories(out, ec);
    }
    config_path_ = dir_ + "/server_config.json";
    stderr_path_ = dir_ + "/server.stderr.log";
    stdout_path_ = dir_ + "/server.stdout.log";
    std::ofstream(stderr_path_, std::ios::trunc);
    std::ofstream(stdout_path_, std::ios::trunc);
    if (listen == Listen::Later) {
      const std::string err = spawn_start();
      if (!err.empty()) FAIL(err);
      return;
    }
    const std::string err = spawn_once();
    if (!err.empty()) FAIL(err);
  }
  // After Listen::Later: waits for the `listening on` line; "" once listening, else why not
  // (the process exited, e.g. refused at start: exit_code() then says how).
  std::string try_await_listening(double seconds = 20) { return await_listening(seconds); }
  int exit_code() const { return exit_code_; }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    join_reader();
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  static std::string binary() {
    if (const char* env = std::getenv("TANDEM_SERVER_BIN"); env && *env) return env;
    return TANDEM_SERVER_BIN;
  }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  std::string address() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  const std::string& stderr_path() const { return stderr_path_; }
  const nlohmann::json& config() const { return config_; }
  // config["output"]: the experience output directory (with output_config.what "fragments":
  // the fragments handed to the learner; samples_file.h reads it).
  std::string samples_path() const {
    REQUIRE_MESSAGE(config_.contains("output"), "the server config has no \"output\"");
    return config_["output"].get<std::string>();
  }

  std::string metrics() {
    REQUIRE_MESSAGE(running(), "metrics(): the server is not running");
    return http_get(port_, "/metrics");
  }
  double metric(const std::string& name) {
    const std::string text = metrics();
    const auto v = find_metric(text, name);
    REQUIRE_MESSAGE(v.has_value(), "no sample '" << name << "' in /metrics:\n" << text);
    return *v;
  }
  // Polls the metric until it equals `value` (at most `seconds`); returns the last value read.
  double metric_reaches(const std::string& name, double value, double seconds = 5) {
    double v = metric(name);
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
    while (v != value && Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      v = metric(name);
    }
    return v;
  }

  // SIGTERM, then waits up to timeout_s for the exit (SIGKILL after that). Returns the exit
  // code (128 + signal when killed by one); again the same code when already stopped.
  int stop(double timeout_s = 20) {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    exit_code_ = reap(timeout_s);
    join_reader();
    return exit_code_;
  }
  // Waits up to timeout_s for the server to exit by itself (SIGKILL after that); the exit code.
  int wait_exit(double timeout_s) {
    if (pid_ <= 0) return exit_code_;
    exit_code_ = reap(timeout_s);
    join_reader();
    return exit_code_;
  }

  // stop() and spawn again with the same arguments (port 0 unless the config fixes it: the
  // port may change).
  void restart() {
    stop();
    const std::string err = spawn_once();
    if (!err.empty()) FAIL(err);
  }
  // stop() and spawn again on the port it had (rewrites the config and --port with it).
  void restart_on_same_port() {
    const uint16_t previous = port_;
    REQUIRE(previous != 0);
    stop();
    config_["port"] = previous;
    port_arg_ = previous;
    std::string err;
    for (int attempt = 0; attempt < 5; ++attempt) {  // the port may linger for a moment
      err = spawn_once();
      if (err.empty()) {
        REQUIRE_MESSAGE(port_ == previous, "restarted on port " << port_ << ", not " << previous);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL(err);
  }

 private:
  // What the stdout reader shares with the test's thread.
  struct StdoutState {
    std::mutex mu;
    std::condition_variable cv;
    bool eof = false;
    int port = -1;  // from the `listening on` line
    std::string scheme;
  };

  // Waits for the child to exit (SIGKILL after timeout_s); returns its exit code.
  int reap(double timeout_s) {
    int st = 0;
    bool exited = false;
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(timeout_s));
    while (!exited) {
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited = true;
        break;
      }
      if (r < 0 && errno != EINTR) break;
      if (Clock::now() >= end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!exited) {
      MESSAGE("tandem-server (pid " << pid_ << ") did not exit within " << timeout_s
                                    << " s; killing it. See " << stderr_path_);
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
  }

  void join_reader() {
    if (reader_.joinable()) reader_.join();
  }

  // Spawns the server and waits for its `listening on` line; "" on success, else why not.
  std::string spawn_once() {
    if (auto err = spawn_start(); !err.empty()) return err;
    return await_listening(20);
  }

  // Spawns the server and starts the stdout reader; "" on success.
  std::string spawn_start() {
    join_reader();
    {
      std::ofstream f(config_path_, std::ios::trunc);
      f << config_.dump(2) << '\n';
      if (!f) return "cannot write " + config_path_;
    }
    std::vector<std::string> args{binary(), "-c", config_path_, "--port", std::to_string(port_arg_)};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string cmdline;
    for (const auto& a : args) cmdline += (cmdline.empty() ? "" : " ") + a;
    cmdline_ = cmdline;

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
    const int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (err < 0 || in < 0) {
      ::close(out[0]);
      ::close(out[1]);
      if (err >= 0) ::close(err);
      if (in >= 0) ::close(in);
      return "cannot open " + stderr_path_ + " or /dev/null";
    }
    const std::string head = "=== " + cmdline + "\n";
    [[maybe_unused]] auto w = ::write(err, head.data(), head.size());
    long max_fd = ::sysconf(_SC_OPEN_MAX);
    if (max_fd <= 0 || max_fd > 65536) max_fd = 65536;
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid == 0) {
      // Child: only async-signal-safe calls until execv.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGINT, SIG_DFL);
      ::dup2(in, 0);
      ::dup2(out[1], 1);
      ::dup2(err, 2);
      // No descriptor of the test process (sockets of its clients) may live on in the server.
      if (::close_range(3, ~0u, 0) != 0)
        for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
      ::execv(argv[0], argv.data());
      static const char msg[] = "tandem test: execv of the server binary failed\n";
      [[maybe_unused]] auto w2 = ::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(out[1]);
    ::close(err);
    ::close(in);
    if (pid < 0) {
      ::close(out[0]);
      return std::string("fork: ") + std::strerror(fork_errno);
    }
    pid_ = pid;

    auto state = std::make_shared<StdoutState>();
    reader_ = std::thread([fd = out[0], state, path = stdout_path_] {
      std::ofstream log(path, std::ios::app | std::ios::binary);
      std::string partial;
      bool found = false;
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        log.write(buf, n);
        log.flush();
        if (found) continue;
        partial.append(buf, static_cast<size_t>(n));
        size_t nl;
        while (!found && (nl = partial.find('\n')) != std::string::npos) {
          const std::string line = partial.substr(0, nl);
          partial.erase(0, nl + 1);
          static const std::string prefix = "listening on ";
          const auto at = line.find(prefix);
          const auto sep = at == std::string::npos ? at : line.find("://", at);
          const auto colon = line.rfind(':');
          if (sep != std::string::npos && colon != std::string::npos && colon > sep + 3) {
            const int p = std::atoi(line.c_str() + colon + 1);
            std::lock_guard lk(state->mu);
            state->port = p;
            state->scheme = line.substr(at + prefix.size(), sep - at - prefix.size());
            found = true;
            state->cv.notify_all();
          }
        }
        if (found) partial.clear();
      }
      ::close(fd);
      std::lock_guard lk(state->mu);
      state->eof = true;
      state->cv.notify_all();
    });
    state_ = state;
    return "";
  }

  std::string await_listening(double seconds) {
    auto state = state_;
    const std::string& cmdline = cmdline_;
    int port = -1;
    bool eof = false;
    {
      std::unique_lock lk(state->mu);
      state->cv.wait_for(lk, std::chrono::duration<double>(seconds), [&] { return state->port >= 0 || state->eof; });
      port = state->port;
      eof = state->eof;
      if (port > 0) scheme_ = state->scheme;
    }
    if (port > 0) {
      port_ = static_cast<uint16_t>(port);
      return "";
    }
    std::string why;
    if (eof) {
      const int code = exit_code_ = reap(5);
      why = "tandem-server exited (code " + std::to_string(code) + ") before listening";
    } else {
      ::kill(pid_, SIGKILL);
      reap(5);
      why = "tandem-server printed no 'listening on ws://HOST:PORT' within " + std::to_string(seconds) + " s";
    }
    join_reader();
    return why + "\n  command: " + cmdline + "\n  stderr: " + stderr_path_ + "\n--- stderr ---\n" +
           file_tail(stderr_path_) + "\n--- stdout ---\n" + file_tail(stdout_path_);
  }

  nlohmann::json config_;
  std::string name_, dir_, config_path_, stderr_path_, stdout_path_;
  std::vector<std::string> extra_args_;
  uint16_t port_arg_ = 0;  // --port: 0 (any free port) until restart_on_same_port()
  uint16_t port_ = 0;
  std::string scheme_ = "ws";  // from the `listening on` line: ws or wss
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::thread reader_;
  std::shared_ptr<StdoutState> state_;  // the reader's findings (spawn_start)
  std::string cmdline_;
};

}  // namespace tandem::test
