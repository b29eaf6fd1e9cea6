#include "policy_client/policy_client.h"

#include <chrono>
#include <random>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "schemas/codec.h"

namespace tandem::client {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace fb = wire::fb;

struct PolicyClient::Impl {
  std::string host, port, path = "/";
  ClientOptions opt;
  net::io_context ioc;
  std::unique_ptr<websocket::stream<tcp::socket>> ws;
  std::mutex mu;
  uint64_t next_id = 1;
  struct Sent {
    wire::Frame frame;
    std::string what;
  };
  std::map<uint64_t, Sent> unacked;  // sent, not answered yet (resent after a reconnect)
  std::vector<RequestError> errors;  // errors of pipelined requests, thrown by the next call
  int64_t reconnects = 0;
  beast::flat_buffer buf;
  std::mt19937_64 rng{std::random_device{}()};

  void connect_once() {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, port);
    auto s = std::make_unique<websocket::stream<tcp::socket>>(ioc);
    net::connect(s->next_layer(), results);
    s->next_layer().set_option(tcp::no_delay(true));
    s->read_message_max(wire::kMaxFrameBytes);
    s->binary(true);
    s->handshake(host + ":" + port, path);
    ws = std::move(s);
    buf.clear();
  }

  // (Re)connects with exponential backoff, then resends every unanswered request in order.
  void reconnect(const std::string& why) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(opt.reconnect_timeout_s);
    auto backoff = std::chrono::milliseconds(20);
    for (;;) {
      try {
        ws.reset();
        connect_once();
        break;
      } catch (const std::exception& e) {
        if (std::chrono::steady_clock::now() + backoff > deadline)
          throw ConnectionError("cannot reach tandem-server at ws://" + host + ":" + port + " (" +
                                why + "; last: " + e.what() + ")");
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      }
    }
    ++reconnects;
    for (auto& [rid, s] : unacked) ws->write(net::buffer(s.frame));
  }

  uint64_t send(wire::Frame frame, uint64_t rid, std::string what) {
    auto [it, ok] = unacked.emplace(rid, Sent{std::move(frame), std::move(what)});
    for (;;) {
      try {
        if (!ws) throw beast::system_error(net::error::not_connected);
        ws->write(net::buffer(it->second.frame));
        return rid;
      } catch (const beast::system_error& e) {
        reconnect(e.code().message());  // resends this one too
        return rid;
      }
    }
  }

  // Reads replies until the one for `rid` arrives; returns its bytes (verified).
  wire::Frame wait(uint64_t rid) {
    for (;;) {
      try {
        buf.clear();
        ws->read(buf);
      } catch (const beast::system_error& e) {
        reconnect(e.code().message());
        continue;
      }
      auto data = buf.data();
      wire::Frame bytes(static_cast<const uint8_t*>(data.data()),
                        static_cast<const uint8_t*>(data.data()) + data.size());
      auto d = wire::decode_frame(bytes);
      if (!d) throw ConnectionError("server sent an invalid frame: " + d.message);
      const uint64_t got = d.envelope->request_id();
      auto it = unacked.find(got);
      if (it == unacked.end()) continue;  // a late duplicate reply
      std::string what = std::move(it->second.what);
      unacked.erase(it);
      if (got == rid) return bytes;
      if (d.envelope->message_type() == fb::Message::Error) {
        const auto* e = d.envelope->message_as_Error();
        errors.emplace_back(wire::error_code_name(e->code()), what, std::string(wire::view(e->message())));
      }
    }
  }

  void throw_pending() {
    if (errors.empty()) return;
    auto e = errors.front();
    errors.clear();
    throw e;
  }

  // Sends a request and returns its reply; throws RequestError for an Error reply.
  wire::Frame call(uint64_t rid, wire::Frame frame, std::string what) {
    throw_pending();
    send(std::move(frame), rid, what);
    auto reply = wait(rid);
    const auto* env = fb::GetEnvelope(reply.data());  // verified in wait()
    if (env->message_type() == fb::Message::Error) {
      const auto* e = env->message_as_Error();
      throw RequestError(wire::error_code_name(e->code()), what, std::string(wire::view(e->message())));
    }
    return reply;
  }
};

PolicyClient::PolicyClient(const std::string& address, InferenceMode mode, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (mode == InferenceMode::Local)
    throw std::invalid_argument("InferenceMode::Local is not implemented yet; use Remote");
  std::string a = address;
  if (a.rfind("ws://", 0) == 0) a = a.substr(5);
  auto slash = a.find('/');
  if (slash != std::string::npos) {
    impl_->path = a.substr(slash);
    a = a.substr(0, slash);
  }
  auto colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size())
    throw std::invalid_argument("address must look like ws://HOST:PORT, got '" + address + "'");
  impl_->host = a.substr(0, colon);
  impl_->port = a.substr(colon + 1);
  impl_->opt = options;
  std::lock_guard lk(impl_->mu);
  impl_->reconnect("connecting");
  impl_->reconnects = 0;
  // Request ids start at a random point so that the server can tell this client's resent
  // requests (duplicates) from another client's that carries an episode on.
  impl_->next_id = (impl_->rng() >> 2) | 1;
}

PolicyClient::~PolicyClient() {
  try {
    std::lock_guard lk(impl_->mu);
    if (impl_->ws) {
      // Let pipelined requests land before closing.
      while (!impl_->unacked.empty()) impl_->wait(impl_->unacked.begin()->first);
      // No close handshake: it would block forever on a server that stopped answering.
      // Every request is answered by now, so the server loses nothing when the socket ends.
      beast::error_code ec;
      impl_->ws->next_layer().shutdown(tcp::socket::shutdown_both, ec);
      impl_->ws->next_layer().close(ec);
    }
  } catch (...) {
  }
}

std::string PolicyClient::start_episode(std::optional<std::string> episode_id,
                                        bool training_enabled, bool explore) {
  std::lock_guard lk(impl_->mu);
  std::string id;
  if (episode_id) {
    id = *episode_id;
  } else {
    char b[40];
    std::snprintf(b, sizeof b, "ep-%016llx", static_cast<unsigned long long>(impl_->rng()));
    id = b;
  }
  const uint64_t rid = impl_->next_id++;
  auto reply = impl_->call(rid, wire::encode_start_episode(rid, id, training_enabled, explore),
                           "StartEpisode(" + id + ")");
  return std::string(wire::view(fb::GetEnvelope(reply.data())->message_as_EpisodeStarted()->episode_id()));
}

namespace {
Action to_action(const fb::AgentAction* a) {
  Action out;
  auto d = wire::view(a->discrete());
  auto c = wire::view(a->continuous());
  out.discrete.assign(d.begin(), d.end());
  out.continuous.assign(c.begin(), c.end());
  return out;
}
}  // namespace

Action PolicyClient::get_action(const std::string& episode_id, std::span<const float> obs,
                                std::span<const float> action_mask) {
  std::lock_guard lk(impl_->mu);
  const uint64_t rid = impl_->next_id++;
  wire::AgentObsView v{"agent0", obs, action_mask};
  auto reply = impl_->call(rid, wire::encode_get_action(rid, episode_id, {&v, 1}),
                           "GetAction(" + episode_id + ")");
  const auto* acts = fb::GetEnvelope(reply.data())->message_as_Actions();
  if (!acts || !acts->actions() || acts->actions()->size() != 1)
    throw ConnectionError("server replied to GetAction without exactly one action");
  return to_action(acts->actions()->Get(0));
}

std::map<std::string, Action> PolicyClient::get_action(const std::string& episode_id,
                                                       const AgentObs& obs) {
  std::lock_guard lk(impl_->mu);
  const uint64_t rid = impl_->next_id++;
  std::vector<wire::AgentObsView> views;
  for (const auto& [id, o] : obs) views.push_back({id, o});
  auto reply = impl_->call(rid, wire::encode_get_action(rid, episode_id, views),
                           "GetAction(" + episode_id + ")");
  const auto* acts = fb::GetEnvelope(reply.data())->message_as_Actions();
  std::map<std::string, Action> out;
  if (acts && acts->actions())
    for (const auto* a : *acts->actions()) out[std::string(wire::view(a->agent_id()))] = to_action(a);
  return out;
}

void PolicyClient::log_action(const std::string& episode_id, std::span<const float> obs,
                              const Action& action) {
  std::lock_guard lk(impl_->mu);
  impl_->throw_pending();
  const uint64_t rid = impl_->next_id++;
  wire::AgentObsView v{"agent0", obs};
  wire::AgentActionView a{"agent0", action.discrete, action.continuous};
  impl_->send(wire::encode_log_action(rid, episode_id, {&v, 1}, {&a, 1}), rid,
              "LogAction(" + episode_id + ")");
}

void PolicyClient::log_returns(const std::string& episode_id, float reward) {
  log_returns(episode_id, std::map<std::string, float>{{"agent0", reward}});
}

void PolicyClient::log_returns(const std::string& episode_id,
                               const std::map<std::string, float>& rewards,
                               const std::map<std::string, bool>& dones) {
  std::lock_guard lk(impl_->mu);
  impl_->throw_pending();
  const uint64_t rid = impl_->next_id++;
  std::vector<wire::AgentRewardView> v;
  for (const auto& [id, r] : rewards) {
    auto it = dones.find(id);
    v.push_back({id, r, it != dones.end() && it->second});
  }
  for (const auto& [id, d] : dones)
    if (!rewards.count(id)) v.push_back({id, 0.f, d});
  impl_->send(wire::encode_log_returns(rid, episode_id, v), rid, "LogReturns(" + episode_id + ")");
}

void PolicyClient::end_episode(const std::string& episode_id, std::span<const float> obs,
                               bool truncated, const std::map<std::string, double>& custom_metrics) {
  end_episode(episode_id, AgentObs{{"agent0", std::vector<float>(obs.begin(), obs.end())}}, truncated,
              custom_metrics);
}

void PolicyClient::end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  std::lock_guard lk(impl_->mu);
  impl_->throw_pending();
  const uint64_t rid = impl_->next_id++;
  std::vector<wire::AgentObsView> views;
  for (const auto& [id, o] : obs) views.push_back({id, o});
  std::vector<wire::MetricView> ms;
  for (const auto& [k, v] : custom_metrics) ms.push_back({k, v});
  impl_->send(wire::encode_end_episode(rid, episode_id, views, truncated, ms), rid,
              "EndEpisode(" + episode_id + ")");
}

void PolicyClient::flush() {
  std::lock_guard lk(impl_->mu);
  while (!impl_->unacked.empty()) {
    const uint64_t rid = impl_->unacked.rbegin()->first;
    auto reply = impl_->wait(rid);
    const auto* env = fb::GetEnvelope(reply.data());
    if (env->message_type() == fb::Message::Error) {
      const auto* e = env->message_as_Error();
      impl_->errors.emplace_back(wire::error_code_name(e->code()), "request " + std::to_string(rid),
                                 std::string(wire::view(e->message())));
    }
  }
  impl_->throw_pending();
}

std::string PolicyClient::get_config() {
  std::lock_guard lk(impl_->mu);
  const uint64_t rid = impl_->next_id++;
  auto reply = impl_->call(rid, wire::encode_get_config(rid), "GetConfig");
  return std::string(wire::view(fb::GetEnvelope(reply.data())->message_as_Config()->json()));
}

int64_t PolicyClient::reconnects() const { return impl_->reconnects; }

}  // namespace tandem::client
