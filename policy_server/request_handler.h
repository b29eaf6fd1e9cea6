#pragma once
// The one request path after decoding: a core::Request in, core::Reply values out, whatever
// the codec. Never throws: every failure becomes an Error reply naming the problem; a bad
// request changes no state.
//
//   handle(caller, fingerprint, request)
//     state-changing requests -> RequestLedger::admit (per client: apply, replay the original
//       reply, wait for the original, or refuse a reused id)
//     StartEpisode / LogReturns / EndEpisode   -> EpisodeRegistry + EpisodeCore, reply now
//     GetAction / LogAction -> checks + preprocessing -> InferenceBatcher of each agent's
//       policy -> complete() (on the flushing thread) records the steps -> reply
//     ReportSamples -> core::check_report -> SampleQueue + RunStats -> reply, held while the
//       learner is behind (retried every millisecond)
//     GetConfig / GetWeights -> reply now (reads: not in the ledger)
//     VectorRequest -> VectorCall: each entry through the paths above, in order; one reply
//
// Exactly one reply per request reaches `caller.sink` (and any resend waiting for it). The
// session hands a connection's requests over in order and a request only while no earlier
// one about the same episodes (or a barrier) is in flight (RequestOrder), so requests of one
// connection apply in order whatever the batching or io_threads.
#include <atomic>
#include <optional>
#include <memory>

#include "core/messages.h"
#include "policy_server/pending_action.h"
#include "policy_server/server_context.h"

namespace tandem::server {

class RequestHandler {
 public:
  explicit RequestHandler(ServerContext& ctx) : ctx_(ctx) {}

  void handle(Caller caller, uint64_t fingerprint, core::Request request);
  // Stateless inference (the HTTP JSON codec): checked, then the policy's batcher (a scripted
  // policy: its stateless model, here); replies Actions or Error through `caller.sink`. Not
  // in the ledger, never recorded. Any thread.
  void compute_actions(Caller caller, const core::ComputeActions& m);
  // A GetAction/LogAction (or ComputeActions) whose batchers have filled every slot (any thread).
  void complete(const std::shared_ptr<PendingAction>& req);
  // A connection ended (its session's I/O thread).
  void connection_closed(const std::string& client);
  // An idle episode the registry has removed: its open fragments go to the learner.
  void abandon(Episode& ep);

 private:
  // One request (or one entry of a VectorRequest) after the ledger and the envelope checks.
  template <class R>
  void apply(Caller caller, const R& request);
  void vector(Caller caller, core::VectorRequest request);
  core::Reply start_episode(const core::StartEpisode& m, const std::string& client);
  core::Reply log_returns(const core::LogReturns& m);
  core::Reply end_episode(const core::EndEpisode& m);
  core::Reply get_weights(const core::GetWeights& m);
  void act(Caller caller, const std::string& episode_id, const std::vector<core::AgentObs>& agents,
           const std::vector<core::AgentAction>* actions);
  void report_samples(Caller caller, const core::ReportSamples& m);
  void compute_actions_checked(Caller& caller, const core::ComputeActions& m);
  // One agent (row) of a PendingAction whose policies[] already holds its policy.
  void add_row(PendingAction& req, const std::string& agent_id, const std::vector<float>& raw_obs,
               const std::vector<float>& mask, std::optional<core::AgentAction> logged);
  void reply_when_learner_ready(Caller caller, std::vector<char> touched_policies, bool held = false);
  // Hands the episode's closed fragments to the learner (training-enabled episodes).
  // Closed fragments to the learner; with "episodes" output also to the episode's rows, which
  // are written when `episode_over`. Caller holds ep.mutex.
  void push_closed(Episode& ep, bool episode_over = false);
  // The one exit: ledger, then every sink waiting for this reply.
  void reply(const Caller& caller, core::Reply r);

  ServerContext& ctx_;
  std::atomic<uint64_t> stateless_seq_{0};  // seeds the scripted policies' stateless draws
};

}  // namespace tandem::server
