#pragma once
// The tandem-server under soak, as a child process: spawn (port 0), its `listening on` stdout
// line for the port, liveness, SIGTERM + exit code; its /metrics and /healthz over plain HTTP;
// and a sampler of its RSS (VmRSS) once a second.
//
// Thread rules: a Server is started, polled and stopped by main's thread only; its stdout
// reader thread writes the port under mu_ (start() waits for it) and is joined by stop() or
// the destructor. The RssSampler's thread appends under its own mutex; samples() is for after
// stop().
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "run_state.h"

namespace tandem::soak {

class Server {
 public:
  // Runs `bin -c config_path --port 0`, its stdout and stderr logged in `dir`; true once it
  // printed its port (within 30 s).
  bool start(const std::string& bin, const std::string& config_path, const std::string& dir);
  ~Server();  // SIGKILL if still running
  // SIGTERM; the exit code (128 + signal when killed; -1 if it did not exit within timeout_s).
  int stop(double timeout_s);
  // Whether the child is still there (does not reap it).
  bool alive() const;
  pid_t pid() const { return pid_; }
  uint16_t port() const { return static_cast<uint16_t>(port_); }
  std::string address() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  const std::string& stdout_path() const { return stdout_path_; }
  const std::string& stderr_path() const { return stderr_path_; }

  // GET /metrics: the text, "" when it does not answer 200 within 20 s.
  std::string metrics() const;
  // GET /healthz: the status, 0 when no answer within 10 s.
  int healthz() const;

 private:
  pid_t pid_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  int port_ = -1;
  bool eof_ = false;
  std::thread reader_;
  std::string stdout_path_, stderr_path_;
};

// The value of sample `name` in /metrics text; NaN when absent.
double metric(const std::string& text, const char* name);

// Samples a process's RSS every second from start() until stop().
class RssSampler {
 public:
  struct Sample {
    double t;  // seconds since t0
    int64_t kib;
  };
  RssSampler(pid_t pid, Clock::time_point t0);
  ~RssSampler() { stop(); }
  void stop();
  const std::vector<Sample>& samples() const { return samples_; }  // after stop()

 private:
  pid_t pid_;
  Clock::time_point t0_;
  std::vector<Sample> samples_;
  std::mutex mu_;
  std::atomic<bool> sampling_{true};
  std::thread thread_;
};

}  // namespace tandem::soak
