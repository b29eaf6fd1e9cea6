#pragma once
// A replica group: N tandem-server processes that train ONE set of weights (docs/ARCHITECTURE.md,
// "Past one machine"). Built on PyTorch's c10d, the engine behind DDP: ProcessGroupGloo for the
// collectives, a TCPStore (hosted by rank 0 at `master`) for the rendezvous and for small
// keyed messages. Torch-free header: the server includes it; c10d stays in
// algorithms/torch/replica_group.cpp.
//
//   join(config)            -> the group, once every rank has connected (rendezvous)
//   sum(values)             all-reduce (sum) in place: every rank gets the same bits
//   put(key, v) / get(key)  the store: small messages (configs, a rank's result row, state)
//   abort()                 closes this rank's connections: the others' next collective fails
//
// Failure: every call throws GroupError when a rank is gone (its connection reset, or no
// answer within config.timeout_s). The group is then broken for good: later calls throw at
// once. Thread rules: one thread uses a group at a time (start-up, then the learner thread);
// broken() and times() may be called from any thread.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

namespace tandem::algo {

struct GroupConfig {
  int rank = 0;                 // --group-rank: 0 hosts the store and writes the results
  int size = 1;                 // --group-size: 1 = no group
  std::string master;           // --group-master HOST:PORT: rank 0's store address
  // The address this replica's Gloo transport binds to and the others connect to. Empty:
  // the local address of the route to the master (the interface the master is reached by).
  std::string host;
  double timeout_s = 30.0;      // a collective or a store read waiting longer breaks the group
  double join_timeout_s = 120.0;  // start-up: how long to wait for every rank to connect
  // group_on_failure: false ("serve"): a rank that sees the group break stops training and
  // keeps serving; true ("exit"): it stops (tandem-server exits 4), for a supervisor to
  // restart the group.
  bool exit_on_failure = false;
  bool active() const { return size > 1; }
};

class GroupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Counters of the collectives (for /metrics and the result rows).
struct GroupTimes {
  int64_t allreduces = 0;       // sum() calls
  double allreduce_s = 0;       // time spent in them, waiting for the others included
  int64_t allreduce_floats = 0; // values reduced
};

class ReplicaGroup {
 public:
  // Rendezvous: rank 0 opens the store at config.master, every rank connects, and the
  // collective transport is set up. Throws GroupError (naming the master and the timeout) when
  // a rank does not come within join_timeout_s, or std::invalid_argument for a bad config.
  static std::unique_ptr<ReplicaGroup> join(const GroupConfig& config);
  ~ReplicaGroup();

  int rank() const;
  int size() const;
  const GroupConfig& config() const;

  // All-reduce (sum) in place over every rank; same length on every rank.
  void sum(std::span<float> values);
  void sum(std::span<double> values);

  // The store. get() waits up to timeout_s for a key that another rank has not put yet.
  void put(const std::string& key, const std::string& value);
  std::string get(const std::string& key);
  void erase(const std::string& key);
  // Waits until every rank has called barrier(name) (through the store).
  void barrier(const std::string& name);

  // Broken: a failure was seen, or abort() was called. Any thread.
  bool broken() const { return broken_.load(); }
  // Marks the group broken and closes this rank's connections, so that the other ranks'
  // pending or next collective fails at once instead of at their timeout.
  void abort();
  GroupTimes times() const;

 private:
  struct Impl;
  explicit ReplicaGroup(std::unique_ptr<Impl> impl);
  [[noreturn]] void fail(const std::string& what);
  void sum_of(void* data, size_t n, bool is_float);
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> broken_{false};
};

// "HOST:PORT" -> its parts; throws std::invalid_argument naming `what`.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
HostPort parse_host_port(const std::string& s, const std::string& what);

}  // namespace tandem::algo
