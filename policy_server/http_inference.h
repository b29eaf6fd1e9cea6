#pragma once
// The HTTP JSON codec of stateless inference (core::ComputeActions), beside the WebSocket +
// FlatBuffers one. Two body shapes:
//   batch   POST /v1/policies/<policy_id>/actions
//           {"observations": [[...], ...], "action_masks": [[...], ...], "explore": false}
//        -> {"actions": [a0, a1, ...], "policy_version": N}
//   single  POST <a configured path> (ServerConfig::http_inference_paths, Ray Serve's shape in
//           the reference 000_b1f235017605f7f7.txt)
//           {"observation": [...], "action_mask": [...], "explore": false}
//        -> {"action": a, "policy_version": N}
// An action is an int (Discrete), a list of ints (MultiDiscrete) or a list of floats (Box).
// Errors: {"error": CODE, "message": ...} with 400 (bad JSON, sizes, values), 404 (unknown
// policy), 500 (the server failed); the session adds 401, 405 and 413 (http_session.h).
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/messages.h"
#include "core/status.h"

namespace tandem::server {

struct InferenceRoute {
  std::string policy_id;
  bool single = false;  // the single-observation body shape
};

// The route of an HTTP path: /v1/policies/<id>/actions, or one of `configured` (path ->
// policy id). nullopt: not an inference path.
std::optional<InferenceRoute> inference_route(std::string_view path,
                                              const std::map<std::string, std::string>& configured);

// The body as a ComputeActions for `route`; BadRequest naming the problem otherwise. Values
// must be finite numbers (JSON has no NaN; a huge number is refused by the space check).
core::Status parse_inference_body(std::string_view body, const InferenceRoute& route, core::ComputeActions& out);

struct HttpJsonReply {
  int status = 200;
  std::string body;  // JSON
};
// An Actions or Error reply in the route's shape.
HttpJsonReply format_inference_reply(const core::Reply& r, const InferenceRoute& route);
// An error in JSON ({"error", "message"}) with its HTTP status.
HttpJsonReply inference_error(const core::Status& st);

}  // namespace tandem::server
