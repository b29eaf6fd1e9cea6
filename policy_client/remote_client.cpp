#include "policy_client/remote_client.h"

#include <utility>

#include "core/overload.h"
#include "core/request_checks.h"

#include "policy_client/request_builders.h"

namespace tandem::client {

using requests::call_name;

RemoteClient::RemoteClient(const std::string& address, const ClientOptions& o, bool connect_now)
    : conn_(address, o), timeout_s_(o.reconnect_timeout_s) {
  if (!connect_now) return;
  conn_.reconnect("connecting");
  conn_.reconnects = 0;
}

RemoteClient::~RemoteClient() {
  try {
    std::lock_guard lk(mu_);
    // Let pipelined requests land before closing: the server then loses nothing when the
    // socket ends (Connection's destructor closes without a handshake).
    // Not when the server is gone: reconnecting could take reconnect_timeout_s here.
    if (conn_.connected()) {
      send_held();
      conn_.drain();
    }
  } catch (...) {
  }
}

std::string RemoteClient::start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) {
  std::lock_guard lk(mu_);
  const std::string id = episode_id ? *episode_id : new_episode_id(conn_.rng);
  return expect_reply<core::EpisodeStarted>(
             call(core::StartEpisode{id, training_enabled, explore}, call_name("StartEpisode", id)),
             call_name("StartEpisode", id))
      .episode_id;
}

std::map<std::string, Action> RemoteClient::get_action(core::GetAction request) {
  std::lock_guard lk(mu_);
  const auto what = call_name("GetAction", request.episode_id);
  auto reply = expect_reply<core::Actions>(call(request, what), what);
  return requests::actions_by_agent(request, std::move(reply), what);
}

core::VectorReply RemoteClient::step(const core::VectorRequest& request) {
  std::lock_guard lk(mu_);
  send_held();
  const uint64_t rid = conn_.next_id();
  return conn_.call_as<core::VectorReply>(
      rid, request, "VectorRequest(" + std::to_string(request.entries.size()) + " entries)");
}

void RemoteClient::log_action(core::LogAction request) {
  auto what = call_name("LogAction", request.episode_id);  // before the move
  hold(std::move(what), std::move(request));
}
void RemoteClient::log_returns(core::LogReturns request) {
  auto what = call_name("LogReturns", request.episode_id);
  hold(std::move(what), std::move(request));
}
void RemoteClient::end_episode(core::EndEpisode request) {
  std::lock_guard lk(mu_);
  auto what = call_name("EndEpisode", request.episode_id);
  hold_locked(std::move(what), std::move(request));
  send_held();
}

void RemoteClient::flush() {
  std::lock_guard lk(mu_);
  send_held();
  conn_.drain();
  conn_.throw_pending();
}
void RemoteClient::throw_kept_error() {
  std::lock_guard lk(mu_);
  conn_.throw_pending();
}
std::string RemoteClient::config_json() {
  std::lock_guard lk(mu_);
  send_held();
  const uint64_t rid = conn_.next_id();
  return conn_.call_as<core::Config>(rid, core::GetConfig{}, "GetConfig").json;
}
int64_t RemoteClient::reconnects() const {
  std::lock_guard lk(mu_);
  return conn_.reconnects;
}

// --- replica group ---

RemoteClient::Taken RemoteClient::take_unanswered() {
  std::lock_guard lk(mu_);
  Taken out;
  for (auto& f : conn_.take_unacked()) {
    auto d = wire::decode_request(f.frame);
    if (!d.status.ok()) continue;  // our own encoding: cannot fail
    std::vector<core::EpisodeRequest> entries;
    if (auto* v = std::get_if<core::VectorRequest>(&d.request)) {
      entries = std::move(v->entries);
    } else {
      std::visit(core::Overload{[&](core::StartEpisode& m) { entries.push_back(std::move(m)); },
                                [&](core::GetAction& m) { entries.push_back(std::move(m)); },
                                [&](core::LogAction& m) { entries.push_back(std::move(m)); },
                                [&](core::LogReturns& m) { entries.push_back(std::move(m)); },
                                [&](core::EndEpisode& m) { entries.push_back(std::move(m)); },
                                [](auto&) {}},  // GetConfig: nothing to replay
                 d.request);
    }
    size_t keep = entries.size();
    if (f.rid == current_rid_) keep = current_tail_ >= keep ? 0 : keep - current_tail_;
    for (size_t i = 0; i < keep; ++i) {
      std::string what = i < f.entries.size() ? f.entries[i] : call_name(entries[i]);
      out.requests.push_back({std::move(entries[i]), std::move(what)});
    }
  }
  auto [v, names] = take_held();
  for (size_t i = 0; i < v.entries.size(); ++i) out.requests.push_back({std::move(v.entries[i]), std::move(names[i])});
  out.errors = conn_.take_errors();
  conn_.disconnect();
  current_rid_ = 0;
  current_tail_ = 0;
  ++epoch_;
  return out;
}

uint64_t RemoteClient::epoch() const {
  std::lock_guard lk(mu_);
  return epoch_;
}

bool RemoteClient::try_connect(double timeout_s) {
  std::lock_guard lk(mu_);
  if (conn_.connected()) return true;
  conn_.set_reconnect_timeout(timeout_s);
  try {
    conn_.reconnect("connecting");
  } catch (const RefusedError&) {
    conn_.set_reconnect_timeout(timeout_s_);
    throw;
  } catch (const ConnectionError&) {
  }
  conn_.set_reconnect_timeout(timeout_s_);
  if (conn_.connected() && !ever_connected_) conn_.reconnects = 0;  // the first connect is none
  ever_connected_ = ever_connected_ || conn_.connected();
  return conn_.connected();
}

bool RemoteClient::connected() const {
  std::lock_guard lk(mu_);
  return conn_.connected();
}
void RemoteClient::set_reconnect_timeout(double s) {
  std::lock_guard lk(mu_);
  timeout_s_ = s;
  conn_.set_reconnect_timeout(s);
}
std::string RemoteClient::endpoint() const {
  std::lock_guard lk(mu_);
  return conn_.endpoint();
}
bool RemoteClient::has_unanswered() const {
  std::lock_guard lk(mu_);
  return conn_.has_unacked() || !held_.entries.empty();
}

void RemoteClient::make_room(const core::EpisodeRequest& request) {
  std::lock_guard lk(mu_);
  if (!fits(frame_size(request)) || held_.entries.size() >= kMaxHeld) send_held();
}
void RemoteClient::push_held(core::EpisodeRequest request, std::string what) {
  std::lock_guard lk(mu_);
  const auto size = frame_size(request);
  held_.entries.push_back(std::move(request));
  held_names_.push_back(std::move(what));
  held_agents_ += size.agents;
  held_bytes_ += size.bytes;
}
void RemoteClient::send_if_full() {
  std::lock_guard lk(mu_);
  if (held_.entries.size() >= kMaxHeld) send_held();
}
void RemoteClient::send_pending() {
  std::lock_guard lk(mu_);
  send_held();
}

uint64_t RemoteClient::send_step(const core::VectorRequest& request) {
  std::lock_guard lk(mu_);
  // Kept errors are the group's to throw before a step starts (not between its parts).
  send_held();
  const uint64_t rid = conn_.next_id();
  current_rid_ = rid;
  current_tail_ = request.entries.size();
  conn_.send(rid, request, "VectorRequest(" + std::to_string(request.entries.size()) + " entries)");
  return rid;
}

core::VectorReply RemoteClient::wait_step(uint64_t rid, size_t entries) {
  std::lock_guard lk(mu_);
  const std::string what = "VectorRequest(" + std::to_string(entries) + " entries)";
  auto reply = conn_.wait(rid);
  if (auto e = error_of(reply, what)) throw *e;
  auto v = expect_reply<core::VectorReply>(std::move(reply), what);
  if (v.replies.size() != entries)
    throw ConnectionError("server answered " + what + " with " + std::to_string(v.replies.size()) + " replies");
  return v;
}

void RemoteClient::drain() {
  std::lock_guard lk(mu_);
  send_held();
  conn_.drain();
}
std::vector<RequestError> RemoteClient::take_errors() {
  std::lock_guard lk(mu_);
  return conn_.take_errors();
}

// --- pipelining ---

// A pipelined call: no round trip of its own. Its reply (Ack or Error) is read by a later
// call; an Error is thrown by the first call that starts after it arrived.
void RemoteClient::hold(std::string what, core::EpisodeRequest request) {
  std::lock_guard lk(mu_);
  hold_locked(std::move(what), std::move(request));
}

bool RemoteClient::fits(const FrameSize& size) const {
  return held_agents_ + size.agents <= core::kMaxAgentsPerVector && held_bytes_ + size.bytes <= kMaxHeldBytes;
}

void RemoteClient::hold_locked(std::string what, core::EpisodeRequest request) {
  conn_.throw_pending();
  // One frame stays within the server's bounds (entries, agents, bytes): what is held goes
  // first when this call would not fit with it.
  const auto size = frame_size(request);
  if (!fits(size)) send_held();
  held_.entries.push_back(std::move(request));
  held_names_.push_back(std::move(what));
  held_agents_ += size.agents;
  held_bytes_ += size.bytes;
  if (held_.entries.size() >= kMaxHeld) send_held();
}

RemoteClient::FrameSize RemoteClient::frame_size(const core::EpisodeRequest& r) {
  FrameSize s;
  auto add_agents = [&](const std::vector<core::AgentObs>& agents) {
    s.agents += agents.size();
    for (const auto& a : agents) s.bytes += 64 + a.agent_id.size() + 4 * (a.obs.size() + a.action_mask.size());
  };
  std::visit(core::Overload{[&](const core::GetAction& m) { add_agents(m.agents); },
                            [&](const core::LogAction& m) {
                              add_agents(m.agents);
                              for (const auto& a : m.actions)
                                s.bytes += 64 + a.agent_id.size() + 8 * a.discrete.size() + 4 * a.continuous.size();
                            },
                            [&](const core::LogReturns& m) {
                              s.agents += m.rewards.size();
                              for (const auto& a : m.rewards) s.bytes += 48 + a.agent_id.size();
                            },
                            [&](const core::EndEpisode& m) { add_agents(m.agents); },
                            [&](const core::StartEpisode&) {}},
             r);
  s.bytes += 64 + core::episode_of(r).size();
  return s;
}

// Takes what is held out of the client (before anything can throw: a call is never sent
// twice under two request ids).
std::pair<core::VectorRequest, std::vector<std::string>> RemoteClient::take_held() {
  held_agents_ = held_bytes_ = 0;
  return {std::exchange(held_, {}), std::exchange(held_names_, {})};
}

// The held calls, pipelined (one frame; a single call as itself).
void RemoteClient::send_held() {
  if (held_.entries.empty()) return;
  auto [v, names] = take_held();
  const uint64_t rid = conn_.next_id();
  if (v.entries.size() == 1)
    conn_.send(rid, core::to_request(std::move(v.entries.front())), std::move(names.front()));
  else
    conn_.send(rid, v, std::to_string(v.entries.size()) + " pipelined calls", std::move(names));
}

// A call that waits for its reply, with the held calls in front of it in the same frame.
// The held calls' errors are kept for the next call; this call's reply is returned (an
// Error thrown as RequestError).
core::Reply RemoteClient::call(core::EpisodeRequest request, const std::string& what) {
  conn_.throw_pending();  // before anything is sent: a failing call applies nothing
  const uint64_t rid = conn_.next_id();
  current_rid_ = rid;
  current_tail_ = 1;
  if (held_.entries.empty()) return conn_.call(rid, core::to_request(std::move(request)), what);
  const auto size = frame_size(request);
  if (!fits(size)) {
    send_held();  // this call would not fit in one frame with them
    current_rid_ = conn_.next_id();
    return conn_.call(current_rid_, core::to_request(std::move(request)), what);
  }
  auto [v, names] = take_held();
  v.entries.push_back(std::move(request));
  names.push_back(what);
  const size_t n = v.entries.size();
  conn_.send(rid, v, std::to_string(n - 1) + " pipelined calls and " + what, names);
  auto frame_reply = conn_.wait(rid);
  // The frame refused whole (it should not be: the client keeps to the bounds).
  if (auto e = error_of(frame_reply, what)) throw *e;
  auto reply = expect_reply<core::VectorReply>(std::move(frame_reply), what);
  if (reply.replies.size() != n)
    throw ConnectionError("server answered " + what + " (with " + std::to_string(n - 1) +
                          " pipelined calls) with " + std::to_string(reply.replies.size()) + " replies");
  for (size_t i = 0; i + 1 < n; ++i)
    if (const auto* e = std::get_if<core::Error>(&reply.replies[i]))
      conn_.keep(RequestError(core::error_code_name(e->code), names[i], e->message));
  core::Reply mine = std::visit([](auto&& r) -> core::Reply { return std::move(r); }, std::move(reply.replies.back()));
  if (auto e = error_of(mine, what)) throw *e;
  return mine;
}

std::unique_ptr<ClientBackend> make_remote_backend(const std::string& address, const ClientOptions& options) {
  return std::make_unique<RemoteClient>(address, options);
}

}  // namespace tandem::client
