#include "core/messages.h"

#include "core/overload.h"

namespace tandem::core {

const char* request_name(const Request& r) {
  static constexpr const char* kNames[] = {"StartEpisode", "GetAction", "LogAction",
                                           "LogReturns",   "EndEpisode", "GetConfig",
                                           "GetWeights",   "ReportSamples", "VectorRequest"};
  return kNames[r.index()];
}

const char* reply_name(const Reply& r) {
  static constexpr const char* kNames[] = {"EpisodeStarted", "Actions",         "Ack",  "Config",
                                           "Weights",        "SamplesAccepted", "Error", "VectorReply"};
  return kNames[r.index()];
}

const std::string& episode_of(const Request& r) {
  static const std::string kNone;
  return std::visit(Overload{[](const GetConfig&) -> const std::string& { return kNone; },
                             [](const GetWeights&) -> const std::string& { return kNone; },
                             [](const VectorRequest&) -> const std::string& { return kNone; },
                             [](const auto& m) -> const std::string& { return m.episode_id; }},
                    r);
}

const std::string& episode_of(const EpisodeRequest& r) {
  return std::visit([](const auto& m) -> const std::string& { return m.episode_id; }, r);
}

Request to_request(EpisodeRequest r) {
  return std::visit([](auto&& m) -> Request { return std::move(m); }, std::move(r));
}

EpisodeReply to_episode_reply(Reply r) {
  return std::visit(Overload{[](EpisodeStarted&& m) -> EpisodeReply { return std::move(m); },
                             [](Actions&& m) -> EpisodeReply { return std::move(m); },
                             [](Ack&& m) -> EpisodeReply { return m; },
                             [](Error&& m) -> EpisodeReply { return std::move(m); },
                             [](auto&& m) -> EpisodeReply {
                               return Error{ErrorCode::Internal, std::string("a vector entry got a ") +
                                                                     reply_name(Reply(std::move(m)))};
                             }},
                    std::move(r));
}

bool is_mutating(const Request& r) {
  return !std::holds_alternative<GetConfig>(r) && !std::holds_alternative<GetWeights>(r);
}

}  // namespace tandem::core
