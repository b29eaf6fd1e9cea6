#include "core/messages.h"

#include "core/overload.h"

namespace tandem::core {

const char* request_name(const Request& r) {
  static constexpr const char* kNames[] = {"StartEpisode", "GetAction", "LogAction",
                                           "LogReturns",   "EndEpisode", "GetConfig",
                                           "GetWeights",   "ReportSamples"};
  return kNames[r.index()];
}

const char* reply_name(const Reply& r) {
  static constexpr const char* kNames[] = {"EpisodeStarted", "Actions",         "Ack",  "Config",
                                           "Weights",        "SamplesAccepted", "Error"};
  return kNames[r.index()];
}

const std::string& episode_of(const Request& r) {
  static const std::string kNone;
  return std::visit(Overload{[](const GetConfig&) -> const std::string& { return kNone; },
                             [](const GetWeights&) -> const std::string& { return kNone; },
                             [](const auto& m) -> const std::string& { return m.episode_id; }},
                    r);
}

bool is_mutating(const Request& r) {
  return !std::holds_alternative<GetConfig>(r) && !std::holds_alternative<GetWeights>(r);
}

}  // namespace tandem::core
