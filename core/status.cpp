#include "core/status.h"

namespace tandem::core {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::None: return "None";
    case ErrorCode::BadFrame: return "BadFrame";
    case ErrorCode::UnsupportedVersion: return "UnsupportedVersion";
    case ErrorCode::BadRequest: return "BadRequest";
    case ErrorCode::UnknownEpisode: return "UnknownEpisode";
    case ErrorCode::DuplicateEpisode: return "DuplicateEpisode";
    case ErrorCode::BadObservation: return "BadObservation";
    case ErrorCode::BadAction: return "BadAction";
    case ErrorCode::UnknownAgent: return "UnknownAgent";
    case ErrorCode::TooManyEpisodes: return "TooManyEpisodes";
    case ErrorCode::UnknownPolicy: return "UnknownPolicy";
    case ErrorCode::Internal: return "Internal";
  }
  return "Unknown";
}

ErrorCode error_code_from_name(const std::string& name) {
  for (auto c = static_cast<uint16_t>(ErrorCode::None); c <= static_cast<uint16_t>(ErrorCode::Internal); ++c)
    if (name == error_code_name(static_cast<ErrorCode>(c))) return static_cast<ErrorCode>(c);
  return ErrorCode::Internal;
}

}  // namespace tandem::core
