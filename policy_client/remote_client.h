#pragma once
// Remote inference: every PolicyClient call is a request on one Connection. GetAction,
// StartEpisode, GetConfig and a vectorised step wait for their reply. LogReturns, LogAction
// and EndEpisode are pipelined (no round trip of their own). LogReturns and LogAction are
// held in the client and travel in the frame of the next call (one VectorRequest: held
// calls first, in order, then that call), so a simulator loop of get_action + log_returns
// costs one frame each way per step. EndEpisode is sent at once, with what is held, so the
// server sees every ended episode without a further call; so are kMaxHeld held calls.
//
// One RemoteClient serves one address (make_remote_backend). A replica group
// (replica_client.cpp) owns one per replica and uses the parts below "replica group": the
// held and sent calls apart, and the unanswered calls taken out when the replica is gone.
// Thread rules: every method is thread-safe (one mutex, mu_); the group calls them under
// its own mutex as well.
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy_client/client_backend.h"
#include "policy_client/connection.h"

namespace tandem::client {

class RemoteClient final : public ClientBackend {
 public:
  static constexpr size_t kMaxHeld = 64;
  static constexpr size_t kMaxHeldBytes = wire::kMaxFrameBytes / 4;  // room for the call that carries them

  // connect_now=false (replica group): no connection yet; try_connect() makes it.
  RemoteClient(const std::string& address, const ClientOptions& o, bool connect_now = true);
  ~RemoteClient() override;

  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) override;
  std::map<std::string, Action> get_action(core::GetAction request) override;
  // One frame, one round trip; the server applies the entries in order.
  core::VectorReply step(const core::VectorRequest& request) override;
  void log_action(core::LogAction request) override;
  void log_returns(core::LogReturns request) override;
  // Sent at once (with what is held): the server sees an episode end without a further call.
  void end_episode(core::EndEpisode request) override;
  void flush() override;
  void throw_kept_error() override;
  std::string config_json() override;
  int64_t reconnects() const override;

  // --- replica group ---
  // A call this replica was given and has not answered (sent or still held).
  struct Unanswered {
    core::EpisodeRequest request;
    std::string what;  // its name for errors, e.g. "LogReturns(ep-1)"
  };
  struct Taken {
    std::vector<Unanswered> requests;  // in the order they were given
    std::vector<RequestError> errors;  // kept errors of answered pipelined calls
  };
  // Takes out every unanswered call (sent frames in request-id order, then the held ones)
  // except those of the call in progress (the frame a call()/send_step() waits for, which
  // its caller makes again elsewhere), and the kept errors; drops the socket. Afterwards
  // the replica holds nothing, so a later try_connect() resends nothing.
  Taken take_unanswered();
  // Counts take_unanswered() calls: a frame sent before a change is gone (never answered).
  uint64_t epoch() const;
  // One attempt series of up to timeout_s (0: one attempt); true when connected.
  // RefusedError is thrown (a wrong token would be refused by every attempt).
  bool try_connect(double timeout_s);
  bool connected() const;
  bool has_unanswered() const;
  void set_reconnect_timeout(double s);
  std::string endpoint() const;
  // Pipelined calls in three steps, so that a ConnectionError never leaves it unclear
  // whether the call was given: make_room() sends what is held when `request` would not
  // fit in one frame with it (may throw ConnectionError: the call is not given yet);
  // push_held() gives it (never throws); send_if_full() sends what is held once kMaxHeld
  // calls wait (may throw ConnectionError: the call is among the unanswered).
  void make_room(const core::EpisodeRequest& request);
  void push_held(core::EpisodeRequest request, std::string what);
  void send_if_full();
  void send_pending();  // sends what is held (pipelined)
  // A vectorised step in two halves (several replicas' parts in flight at once). The part
  // sent is the call in progress until wait_step returns.
  uint64_t send_step(const core::VectorRequest& request);
  core::VectorReply wait_step(uint64_t rid, size_t entries);
  // Sends what is held and waits for every reply; kept errors stay kept (take_errors()).
  void drain();
  std::vector<RequestError> take_errors();

 private:
  struct FrameSize {
    size_t agents = 0, bytes = 0;  // bytes: an upper estimate of the encoded size
  };
  static FrameSize frame_size(const core::EpisodeRequest& r);
  bool fits(const FrameSize& size) const;
  void hold(std::string what, core::EpisodeRequest request);
  void hold_locked(std::string what, core::EpisodeRequest request);
  std::pair<core::VectorRequest, std::vector<std::string>> take_held();
  void send_held();
  core::Reply call(core::EpisodeRequest request, const std::string& what);

  mutable std::mutex mu_;
  Connection conn_;                      // under mu_
  core::VectorRequest held_;             // under mu_: pipelined calls not sent yet
  std::vector<std::string> held_names_;  // under mu_: their names, for errors
  size_t held_agents_ = 0, held_bytes_ = 0;  // under mu_: what held_ adds to a frame
  // under mu_: the frame of the call in progress and how many of its last entries are that
  // call's (the others were held calls travelling with it); 0: none.
  uint64_t current_rid_ = 0;
  size_t current_tail_ = 0;
  uint64_t epoch_ = 0;  // under mu_
  double timeout_s_;    // under mu_: the connection's reconnect timeout outside try_connect
  bool ever_connected_ = false;  // under mu_
};

}  // namespace tandem::client
