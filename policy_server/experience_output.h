#pragma once
// Experience output (config "output": DIR), RLlib's `output`: JSON lines in RLlib's
// SampleBatch layout (core/offline_json.h), one line per batch, in
// DIR/output-<start time>_<pid>_<NNNNN>.json; the next file starts when a line would take the
// current one past max_file_size. What is written (output_config.what):
//   "batches"   every batch the learner trains on, with its advantages and value_targets
//   "episodes"  every finished (or timed-out) episode, one line per policy, also for
//               training_enabled=false and on a server that does not train
//   "fragments" every fragment as it is handed to the learner (what tests compare)
//
// Data flow: callers (the learner thread: batches; I/O threads: episodes, fragments) ->
// write(): the batch joins a bounded queue, or is dropped and counted when it would take the
// queue past max_queued_rows rows or max_queued_bytes -> the writer thread encodes it, appends it to the file and flushes. A
// failed write (disk full, file size limit, directory gone) is logged (the first, then every
// 100th), counted and its line lost; the next line opens a new file. Serving never waits for
// the disk.
// Thread rules: write() and counters() from any thread; stop() (and the destructor) writes
// what was accepted within stop_deadline_s (what is left then is dropped and counted), then
// joins; a write() after stop() is dropped and counted.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/offline_json.h"

namespace tandem::server {

enum class OutputWhat { Batches, Episodes, Fragments };

struct OutputConfig {
  std::string dir;                          // "output": "" = no output
  OutputWhat what = OutputWhat::Batches;    // output_config.what
  int64_t max_file_size = 64LL << 20;       // "output_max_file_size" (RLlib's name), bytes
  // output_config.max_queued_rows / max_queued_bytes: what may wait for the disk before
  // batches are dropped (bytes estimated from the batch's columns).
  int64_t max_queued_rows = 1LL << 20;
  int64_t max_queued_bytes = 256LL << 20;
  // output_config.max_episode_rows ("episodes"): an open episode holding this many rows
  // writes them as a line at once (its later rows follow in more lines, eps_id ties them),
  // so that an episode's rows in memory are bounded. At most max_queued_rows.
  int64_t max_episode_rows = 10000;
};

// The output keys of a server config ("output", "output_config", "output_max_file_size");
// throws std::invalid_argument naming a bad key or value. to_json writes them back.
OutputConfig parse_output_config(const nlohmann::json& server_config);
void output_config_to_json(const OutputConfig& c, nlohmann::json& server_config);

// "batches", "episodes", "fragments"; parse throws std::invalid_argument for another name.
const char* output_what_name(OutputWhat w);
OutputWhat parse_output_what(const std::string& name);

struct OutputCounters {
  std::atomic<int64_t> lines_written{0}, rows_written{0}, bytes_written{0}, files_opened{0};
  std::atomic<int64_t> lines_dropped{0}, rows_dropped{0};  // the queue was full
  std::atomic<int64_t> write_errors{0};                    // lines lost to a failed write
  std::atomic<int64_t> rows_queued{0};                     // waiting for the writer now
  std::atomic<int64_t> bytes_queued{0};
};

class ExperienceOutput {
 public:
  // `policy_ids` and `action_spaces` are indexed by policy. Creates cfg.dir; throws
  // std::runtime_error when it cannot.
  ExperienceOutput(OutputConfig cfg, std::vector<std::string> policy_ids, std::vector<core::Space> action_spaces);
  ~ExperienceOutput();
  ExperienceOutput(const ExperienceOutput&) = delete;
  ExperienceOutput& operator=(const ExperienceOutput&) = delete;

  OutputWhat what() const { return cfg_.what; }
  const OutputConfig& config() const { return cfg_; }
  // Queues `b` (policy id and unroll id set here) or drops it when the queue is full. Never
  // blocks on I/O. Any thread.
  void write(int policy, core::OfflineBatch&& b);
  const OutputCounters& counters() const { return counters_; }
  const std::string& dir() const { return cfg_.dir; }
  // Writes what is queued and joins the writer. Idempotent.
  void stop(double stop_deadline_s = 30.0);

 private:
  struct Item {
    int policy;
    core::OfflineBatch batch;
    int64_t bytes;
  };
  void run();
  bool append(const std::string& line);  // writer thread; false: the line was lost
  bool open_file();                      // writer thread: the current file, or the next one

  const OutputConfig cfg_;
  const std::vector<std::string> policy_ids_;
  const std::vector<core::Space> action_spaces_;
  const std::string prefix_;  // DIR/output-<start time>_<pid>_
  OutputCounters counters_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::chrono::steady_clock::time_point drain_until_;  // guarded by mu_ (set by stop)
  // Writer thread only.
  std::FILE* file_ = nullptr;
  int64_t file_bytes_ = 0;
  int64_t file_index_ = 0;
  bool roll_ = true;        // the next line starts a new file (else: reopen the current one)
  int64_t unroll_id_ = 0;
  std::thread thread_;
};

}  // namespace tandem::server
