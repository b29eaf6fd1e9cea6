// libFuzzer target: request frames -> wire::decode_request -> RequestHandler::handle, with a
// real ServerContext (episode registry, ledger, policy table, inference batchers, sample
// queue) and no network and no learner thread: the batchers' flushes run on this thread when
// the io_context is polled after each request. Input format: fuzz/fuzz_format.h.
//
// Aborts (a libFuzzer crash) when:
//   - a request gets no reply, or more than one, or one under another request id;
//   - a reply does not encode into frames that wire::decode_reply accepts;
//   - a resend of a state-changing request gets a reply other than the original's;
//   - a handler exception escapes into the io_context (the server would only log it);
//   - a fragment that reached the learner's queue is malformed (sizes, non-finite values,
//     rejected by SampleBatch::append), or comes from the frozen policy.
// plus whatever ASan / UBSan report in the server code.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "algorithms/policy.h"
#include "algorithms/sample_batch.h"
#include "core/action_logp.h"
#include "fuzz/fuzz_format.h"
#include "policy_server/inference_batcher.h"
#include "policy_server/request_handler.h"
#include "policy_server/server_context.h"
#include "schemas/codec.h"

namespace {

using namespace tandem;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "request_fuzz: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

struct RecordingSink : server::ReplySink {
  void send(uint64_t request_id, core::Reply reply) override { replies.emplace_back(request_id, std::move(reply)); }
  std::vector<std::pair<uint64_t, core::Reply>> replies;
};

// What Server builds, minus the listener, the threads, the learner and the sweep timer.
struct Rig {
  Rig() : ctx(config(), ioc), handler(ctx) {
    const auto& c = ctx.config;
    for (size_t i = 0; i < c.policies.size(); ++i) {
      const int p = static_cast<int>(i);
      ctx.policies.set_algorithm(p, algo::make_algorithm(c.algorithm, c.policies[i], c.seed + 1000 * i));
      ctx.policies.batcher_slot(p) = std::make_unique<server::InferenceBatcher>(
          ioc, ctx.policies, p, c.seed + 17 + i, ctx.stats,
          [h = &handler](const std::shared_ptr<server::PendingAction>& r) { h->complete(r); }, &ctx.samples);
    }
    ctx.samples.set_accepting(true);  // kept until drained after each input (no learner)
    for (size_t i = 0; i < c.policies.size(); ++i) {
      if (c.is_trained(c.policies[i].policy_id)) continue;
      const int p = static_cast<int>(i);
      if (auto* a = ctx.policies.algorithm(p)) ctx.policies.freeze(p, a->snapshot());
      ctx.samples.set_trained(p, false);
    }
    ctx.config_json = c.to_json().dump();
  }
  ~Rig() {
    for (int p = 0; p < ctx.policies.num_policies(); ++p) ctx.policies.batcher_slot(p).reset();
  }
  static server::ServerConfig config() {
    auto cfg = server::parse_server_config(nlohmann::json::parse(fuzz::kServerConfig));
    cfg.train = true;  // training-enabled episodes push fragments; nothing trains them
    return cfg;
  }

  boost::asio::io_context ioc;  // first: outlives the context's batchers and timers
  server::ServerContext ctx;
  server::RequestHandler handler;
  std::map<std::string, uint64_t> last_id;  // per client: the highest request id used
  std::vector<std::shared_ptr<RecordingSink>> sinks;  // this input's: none may get a second reply later
  uint64_t inputs = 0;
  uint64_t anonymous = 0;
};

uint64_t rebuild_every = fuzz::kRebuildEvery;
bool verbose = false;  // TANDEM_FUZZ_VERBOSE=1: one line per request and reply (to read a finding)
std::unique_ptr<Rig> rig;

// Runs every ready handler (batcher flushes and what they complete). Exceptions that escape
// a handler are findings: the server only logs them, and the request they carried goes unanswered.
void drain(Rig& r) {
  try {
    for (;;) {
      r.ioc.restart();
      if (r.ioc.poll() == 0) return;
    }
  } catch (const std::exception& e) {
    fail(std::string("an exception escaped an io_context handler: ") + e.what());
  }
}

void check_encodes(uint64_t id, const core::Reply& reply) {
  const auto frames = wire::encode_reply(id, reply);
  if (frames.empty()) fail(std::string("encode_reply gave no frame for ") + core::reply_name(reply));
  for (const auto& f : frames) {
    if (f.size() > wire::kMaxFrameBytes) fail("a reply frame exceeds kMaxFrameBytes");
    const auto d = wire::decode_reply(f);
    if (!d.status.ok())
      fail(std::string("the server's ") + core::reply_name(reply) + " reply does not decode: " + d.status.message);
    if (d.request_id != id) fail("a reply frame decodes with another request id");
  }
}

// One request through the handler; returns its only reply.
core::Reply handle_once(Rig& r, const std::string& client, uint64_t id, uint64_t fp, const core::Request& req) {
  auto sink = std::make_shared<RecordingSink>();
  r.sinks.push_back(sink);
  r.handler.handle(server::Caller{client, id, false, sink}, fp, req);
  drain(r);
  const char* name = core::request_name(req);
  if (sink->replies.empty()) fail(std::string(name) + " (request id " + std::to_string(id) + ") got no reply");
  if (sink->replies.size() > 1)
    fail(std::string(name) + " (request id " + std::to_string(id) + ") got " +
         std::to_string(sink->replies.size()) + " replies");
  if (sink->replies[0].first != id)
    fail(std::string(name) + " was answered under request id " + std::to_string(sink->replies[0].first) +
         " instead of " + std::to_string(id));
  check_encodes(id, sink->replies[0].second);
  if (verbose) {
    const auto& rep = sink->replies[0].second;
    const auto* err = std::get_if<core::Error>(&rep);
    std::fprintf(stderr, "  %s %s #%llu '%s' -> %s %s\n", client.c_str(), name, static_cast<unsigned long long>(id),
                 core::episode_of(req).c_str(), core::reply_name(rep), err ? err->message.c_str() : "");
  }
  return std::move(sink->replies[0].second);
}

void serve(Rig& r, uint8_t control, std::span<const uint8_t> frame, const std::string& anonymous) {
  const uint8_t who = control & fuzz::kClientMask;
  const std::string client = who <= 1 ? "fz-a" : who == 2 ? "fz-b" : anonymous;
  auto d = wire::decode_request(frame);
  if (!d.status.ok()) {  // the session answers it with an Error and handles nothing
    check_encodes(d.request_id, core::error_reply(d.status));
    return;
  }
  uint64_t& last = r.last_id[client];
  uint64_t id = d.request_id;
  if (control & fuzz::kOwnId)
    last = std::max(last, id);
  else
    id = ++last;  // ids increase per client: the request applies (unless the window says otherwise)
  const uint64_t fp = wire::fingerprint(frame);
  const core::Reply first = handle_once(r, client, id, fp, d.request);
  if (control & fuzz::kResend) {
    const core::Reply again = handle_once(r, client, id, fp, d.request);
    if (core::is_mutating(d.request) && wire::encode_reply(id, first) != wire::encode_reply(id, again))
      fail(std::string("a resent ") + core::request_name(d.request) + " got " + core::reply_name(again) +
           " instead of the original's " + core::reply_name(first));
  }
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// What the learner would take: every fragment must be one it can train on.
void drain_samples(Rig& r) {
  const auto& pol = r.ctx.policies;
  std::vector<int64_t> need(static_cast<size_t>(pol.num_policies()), 1);
  auto got = r.ctx.samples.wait_take(need, std::chrono::milliseconds(0));
  for (int p = 0; p < pol.num_policies(); ++p) {
    const auto& spec = pol.spec(p);
    const auto& frags = got[static_cast<size_t>(p)];
    if (!frags.empty() && !r.ctx.config.is_trained(spec.policy_id))
      fail("fragments of the frozen policy '" + spec.policy_id + "' reached the learner's queue");
    algo::SampleBatch batch;
    for (const auto& t : frags) {
      const int64_t T = t.size();
      const auto& as = spec.action_space;
      const auto n = [&](size_t got_n, int64_t width) { return static_cast<int64_t>(got_n) == T * width; };
      if (T == 0 || t.obs_dim != spec.observation_space.preprocessed_size() || !n(t.obs.size(), t.obs_dim) ||
          !n(t.actions.size(), core::discrete_action_width(as)) ||
          !n(t.actions_cont.size(), core::continuous_action_width(as)) || !n(t.action_logp.size(), 1) ||
          !n(t.vf_preds.size(), 1) || !n(t.dist_inputs.size(), core::dist_dim(as)))
        fail("a malformed fragment of policy '" + spec.policy_id + "': " + std::to_string(T) + " steps, obs_dim " +
             std::to_string(t.obs_dim) + ", obs " + std::to_string(t.obs.size()) + ", actions " +
             std::to_string(t.actions.size()) + ", actions_cont " + std::to_string(t.actions_cont.size()) +
             ", action_logp " + std::to_string(t.action_logp.size()) + ", vf_preds " +
             std::to_string(t.vf_preds.size()) + ", dist_inputs " + std::to_string(t.dist_inputs.size()));
      if (!all_finite(t.obs) || !all_finite(t.rewards) || !all_finite(t.action_logp) || !all_finite(t.vf_preds) ||
          !all_finite(t.actions_cont) || !std::isfinite(t.bootstrap_value))
        fail("a fragment of policy '" + spec.policy_id + "' holds a non-finite value");
      try {
        const auto& c = spec.config;
        batch.append(t, c.gamma, c.lambda_, c.use_gae, c.use_critic);
      } catch (const std::exception& e) {
        fail(std::string("SampleBatch::append refused a queued fragment: ") + e.what());
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  algo::set_torch_num_threads(1);
  verbose = std::getenv("TANDEM_FUZZ_VERBOSE") != nullptr;
  if (const char* e = std::getenv("TANDEM_FUZZ_REBUILD_EVERY")) rebuild_every = std::max<uint64_t>(1, std::strtoull(e, nullptr, 10));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!rig || rig->inputs >= rebuild_every) {
    rig.reset();  // bounded state: a fresh context (registry, ledger, tombstones, stats)
    rig = std::make_unique<Rig>();
  }
  Rig& r = *rig;
  ++r.inputs;
  const std::string anonymous = "conn:" + std::to_string(++r.anonymous);
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  for (size_t n = 0; n < fuzz::kMaxRecords && pos < in.size(); ++n) {
    size_t end = in.find(fuzz::kSeparator, pos);
    if (end == std::string_view::npos) end = in.size();
    if (end > pos) {
      const auto control = static_cast<uint8_t>(in[pos]);
      // A copy: the session's read buffer starts aligned (FlatBuffers reads scalars in place).
      const std::vector<uint8_t> frame(data + pos + 1, data + end);
      serve(r, control, frame, anonymous);
      if (control & fuzz::kSweep) {
        for (auto& ep : r.ctx.episodes.take_idle(std::chrono::steady_clock::duration::zero())) {
          r.handler.abandon(*ep);
          r.ctx.stats.episode_timed_out();
        }
        drain(r);
      }
    }
    pos = end + fuzz::kSeparator.size();
  }
  r.handler.connection_closed(anonymous);
  drain(r);
  for (const auto& sink : r.sinks)
    if (sink->replies.size() != 1) fail("a request got a second reply after its first");
  r.sinks.clear();
  drain_samples(r);
  return 0;
}
