// RawWs and the request helpers of the hostile clients (thread rules: raw_ws.h).
#include "raw_ws.h"

#include <variant>

#include "run_state.h"
#include "support/run_until.h"

namespace tandem::soak {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using test::run_until;

RawWs::RawWs() : ws_(std::make_unique<Ws>(ioc_)), rs_(std::make_shared<ReadState>()) {}

bool RawWs::connect(uint16_t port, const std::string& client_id, double timeout_s) {
  if (!client_id.empty())
    ws_->set_option(websocket::stream_base::decorator(
        [id = client_id](websocket::request_type& req) { req.set("X-Tandem-Client", id); }));
  ws_->read_message_max(wire::kMaxFrameBytes + (1u << 16));
  auto st = std::make_shared<Op>();
  ws_->next_layer().async_connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                  [st](beast::error_code ec) { st->ec = ec; st->done = true; });
  const auto end = after(timeout_s);
  if (!run_until(ioc_, [&] { return st->done; }, end) || st->ec) return false;
  beast::error_code ignored;
  ws_->next_layer().set_option(net::ip::tcp::no_delay(true), ignored);
  st = std::make_shared<Op>();
  ws_->async_handshake("127.0.0.1:" + std::to_string(port), "/",
                       [st](beast::error_code ec) { st->ec = ec; st->done = true; });
  if (!run_until(ioc_, [&] { return st->done; }, end) || st->ec) return false;
  ws_->binary(true);
  open_ = true;
  return true;
}

bool RawWs::send(const wire::Frame& frame, double timeout_s, bool text) {
  if (!open_ || write_pending_) return false;
  auto st = std::make_shared<Op>();
  st->frame = frame;
  ws_->text(text);
  write_pending_ = true;
  ws_->async_write(net::buffer(st->frame), [this, st](beast::error_code ec, std::size_t) {
    st->ec = ec;
    st->done = true;
    write_pending_ = false;
  });
  const bool done = run_until(ioc_, [&] { return st->done; }, after(timeout_s));
  if (text) ws_->text(false);
  if (done && st->ec) open_ = false;
  return done && !st->ec;
}

std::optional<wire::Frame> RawWs::read(double timeout_s) {
  if (!open_ && rs_->inbox.empty()) return std::nullopt;
  if (rs_->inbox.empty() && !rs_->pending && !rs_->error) start_read();
  run_until(ioc_, [&] { return !rs_->inbox.empty() || rs_->error; }, after(timeout_s));
  if (rs_->inbox.empty()) return std::nullopt;
  auto f = std::move(rs_->inbox.front());
  rs_->inbox.pop_front();
  return f;
}

void RawWs::abort() {
  if (!ws_) return;
  beast::error_code ignored;
  ws_->next_layer().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  ws_->next_layer().close(ignored);
  open_ = false;
}

void RawWs::start_read() {
  test::read_frame_into(*ws_, rs_, [] {});  // one frame; read() re-arms
}

bool connect_counted(int kind, RawWs& ws, uint16_t port, const std::string& id) {
  if (!ws.connect(port, id)) {
    if (!g_stop) unexpected(kind, "connect failed");
    nap(1);
    return false;
  }
  ++g_stats[kind].connections;
  return true;
}

std::optional<core::Reply> call(int kind, RawWs& ws, uint64_t rid, const wire::Frame& frame,
                                std::string* reply_bytes, double timeout_s) {
  ++g_stats[kind].requests;
  if (!ws.send(frame, timeout_s)) {
    if (!g_stop) unexpected(kind, "could not send request " + std::to_string(rid));
    return std::nullopt;
  }
  auto f = ws.read(timeout_s);
  if (!f) {
    unexpected(kind, "no reply to request " + std::to_string(rid) + " within " + std::to_string(timeout_s) + " s");
    return std::nullopt;
  }
  auto d = wire::decode_reply(*f);
  if (!d.status.ok()) {
    unexpected(kind, "invalid reply frame: " + d.status.message);
    return std::nullopt;
  }
  if (d.request_id != rid) {
    unexpected(kind, "reply for request " + std::to_string(d.request_id) + " while waiting for " + std::to_string(rid));
    return std::nullopt;
  }
  if (reply_bytes) reply_bytes->assign(f->begin(), f->end());
  return d.reply;
}
std::optional<core::Reply> call(int kind, RawWs& ws, uint64_t rid, const core::Request& r) {
  return call(kind, ws, rid, wire::encode_request(rid, r));
}

void expect_error(int kind, RawWs& ws, uint64_t rid, const core::Request& r, const char* what) {
  auto rep = call(kind, ws, rid, r);
  if (!rep) return;
  if (std::holds_alternative<core::Error>(*rep))
    got_error(kind, *rep);
  else
    unexpected(kind, std::string(what) + " was not refused: " + describe(*rep));
}

core::AgentObs agent_obs(std::vector<float> obs, std::string agent) {
  return core::AgentObs{std::move(agent), std::move(obs), {}};
}
std::vector<float> vec(const std::array<float, 4>& a) { return {a.begin(), a.end()}; }

}  // namespace tandem::soak
