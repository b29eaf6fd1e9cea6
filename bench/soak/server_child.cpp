// The tandem-server child process, its HTTP endpoints and its RSS (thread rules: server_child.h).
#include "server_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "support/http_get.h"
#include "support/proc_stats.h"
#include "support/prometheus_text.h"

namespace tandem::soak {

bool Server::start(const std::string& bin, const std::string& config_path, const std::string& dir) {
  stdout_path_ = dir + "/server.stdout.log";
  stderr_path_ = dir + "/server.stderr.log";
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return false;
  const int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<std::string> args{bin, "-c", config_path, "--port", "0"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in, 0);
    ::dup2(out[1], 1);
    ::dup2(err, 2);
    ::close_range(3, ~0u, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err);
  ::close(in);
  if (pid < 0) return false;
  pid_ = pid;
  reader_ = std::thread([this, fd = out[0]] {
    std::ofstream log(stdout_path_, std::ios::binary | std::ios::trunc);
    std::string partial;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      log.write(buf, n);
      log.flush();
      if (port_ > 0) continue;
      partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        const std::string line = partial.substr(0, nl);
        partial.erase(0, nl + 1);
        if (line.rfind("listening on ws://", 0) == 0) {
          std::lock_guard lk(mu_);
          port_ = std::atoi(line.c_str() + line.rfind(':') + 1);
          cv_.notify_all();
        }
      }
    }
    ::close(fd);
    std::lock_guard lk(mu_);
    eof_ = true;
    cv_.notify_all();
  });
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::seconds(30), [&] { return port_ > 0 || eof_; });
  return port_ > 0;
}

Server::~Server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  if (reader_.joinable()) reader_.join();
}

int Server::stop(double timeout_s) {
  ::kill(pid_, SIGTERM);
  const auto end = after(timeout_s);
  int st = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) break;
    if (Clock::now() > end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

bool Server::alive() const {
  siginfo_t info{};
  return pid_ > 0 && ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

std::string Server::metrics() const {
  const auto r = test::try_http_get(port(), "/metrics", 20);
  return r.ok() && r.status == 200 ? r.body : std::string();
}

int Server::healthz() const {
  const auto r = test::try_http_get(port(), "/healthz", 10);
  return r.ok() ? r.status : 0;
}

double metric(const std::string& text, const char* name) {
  const auto v = test::find_metric(text, name);
  return v ? *v : std::nan("");
}

RssSampler::RssSampler(pid_t pid, Clock::time_point t0) : pid_(pid), t0_(t0) {
  thread_ = std::thread([this] {
    while (sampling_) {
      const int64_t k = test::rss_kib(pid_);
      {
        std::lock_guard lk(mu_);
        samples_.push_back({seconds_since(t0_), k});
      }
      for (int i = 0; i < 20 && sampling_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

void RssSampler::stop() {
  sampling_ = false;
  if (thread_.joinable()) thread_.join();
}

}  // namespace tandem::soak
