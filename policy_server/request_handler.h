#pragma once
// Turns one verified request envelope into state changes and replies. Network-agnostic:
// replies go to a ReplySink. Never throws: every failure becomes an Error reply that names
// the problem and echoes the request id; a bad request changes no state.
#include <memory>
#include <vector>

#include "policy_server/reply_sink.h"
#include "policy_server/server_context.h"

namespace tandem::server {

class RequestHandler {
 public:
  explicit RequestHandler(ServerContext& ctx) : ctx_(ctx) {}

  void handle(const wire::fb::Envelope& env, const std::shared_ptr<ReplySink>& sink);
  // Completion of a GetAction/LogAction whose batchers have filled every slot.
  void complete(const std::shared_ptr<PendingAction>& req);

 private:
  void start_episode(uint64_t rid, const wire::fb::StartEpisode& m, ReplySink& sink);
  void get_action(uint64_t rid, const wire::fb::GetAction& m, const std::shared_ptr<ReplySink>& sink);
  void log_action(uint64_t rid, const wire::fb::LogAction& m, const std::shared_ptr<ReplySink>& sink);
  void log_returns(uint64_t rid, const wire::fb::LogReturns& m, ReplySink& sink);
  void end_episode(uint64_t rid, const wire::fb::EndEpisode& m, ReplySink& sink);
  void get_weights(uint64_t rid, const wire::fb::GetWeights& m, ReplySink& sink);
  void report_samples(uint64_t rid, const wire::fb::ReportSamples& m,
                      const std::shared_ptr<ReplySink>& sink);
  void reply_when_learner_ready(uint64_t rid, std::vector<char> touched_policies,
                                const std::shared_ptr<ReplySink>& sink, bool reading_held);

  // Shared by GetAction and LogAction: validates the agents and queues them on their batchers.
  void queue_actions(uint64_t rid, std::string_view episode_id,
                     const flatbuffers::Vector<flatbuffers::Offset<wire::fb::AgentObs>>* agents,
                     const flatbuffers::Vector<flatbuffers::Offset<wire::fb::AgentAction>>* actions,
                     const std::shared_ptr<ReplySink>& sink);

  ServerContext& ctx_;
};

}  // namespace tandem::server
