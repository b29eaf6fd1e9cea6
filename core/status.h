#pragma once
// The one result type of every check and request in Tandem: an error code (the wire
// protocol's ErrorCode values) and a message that names the problem. Torch-free, wire-free.
#include <cstdint>
#include <string>
#include <utility>

namespace tandem::core {

// Same values as tandem.fbs's ErrorCode (schemas/ static_asserts it).
enum class ErrorCode : uint16_t {
  None = 0,
  BadFrame,            // not a verifiable Tandem envelope, or too large
  UnsupportedVersion,  // protocol version mismatch
  BadRequest,          // a field is missing or makes no sense
  UnknownEpisode,      // episode id not open on this server
  DuplicateEpisode,    // start_episode with an id that is already open
  BadObservation,      // wrong size, NaN/inf, out of the space's range
  BadAction,           // an action outside the action space
  UnknownAgent,        // agent id the policy mapping cannot place, or agent already done
  TooManyEpisodes,     // the bound on open episodes is reached
  UnknownPolicy,       // GetWeights for a policy this server does not host
  Internal             // the server failed; the message says how
};

// "BadObservation" etc.; "Unknown" for a value outside the enum.
const char* error_code_name(ErrorCode code);
// The code of a name error_code_name gives; Internal for any other text.
ErrorCode error_code_from_name(const std::string& name);

struct Status {
  ErrorCode code = ErrorCode::None;
  std::string message;  // empty when ok

  static Status ok_status() { return {}; }
  static Status error(ErrorCode c, std::string m) { return {c, std::move(m)}; }
  bool ok() const { return code == ErrorCode::None; }
};

}  // namespace tandem::core
