#include "policy_server/http_inference.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/text.h"

namespace tandem::server {
namespace {

using core::ErrorCode;
using core::Status;
using nlohmann::json;

constexpr std::string_view kPrefix = "/v1/policies/";
constexpr std::string_view kSuffix = "/actions";

Status bad(std::string m) { return Status::error(ErrorCode::BadRequest, std::move(m)); }

// A JSON array of numbers as floats; `what` names it in errors.
Status floats_of(const json& j, const std::string& what, std::vector<float>& out) {
  if (!j.is_array()) return bad(what + " must be a list of numbers");
  out.clear();
  out.reserve(j.size());
  for (const auto& v : j) {
    if (!v.is_number()) return bad(what + " must hold numbers only");
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > 3.4e38) return bad(what + " holds a number outside float range");
    out.push_back(static_cast<float>(d));
  }
  return {};
}

json action_json(const core::AgentAction& a) {
  if (!a.continuous.empty()) return a.continuous;
  if (a.discrete.size() == 1) return a.discrete[0];
  return a.discrete;
}

int http_status_of(ErrorCode c) {
  switch (c) {
    case ErrorCode::UnknownPolicy: return 404;
    case ErrorCode::Internal: return 500;
    default: return 400;
  }
}

}  // namespace

std::optional<InferenceRoute> inference_route(std::string_view path,
                                              const std::map<std::string, std::string>& configured) {
  if (auto it = configured.find(std::string(path)); it != configured.end()) return InferenceRoute{it->second, true};
  if (path.size() > kPrefix.size() + kSuffix.size() && path.substr(0, kPrefix.size()) == kPrefix &&
      path.substr(path.size() - kSuffix.size()) == kSuffix) {
    const auto id = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
    if (id.find('/') == std::string_view::npos) return InferenceRoute{std::string(id), false};
  }
  return std::nullopt;
}

Status parse_inference_body(std::string_view body, const InferenceRoute& route, core::ComputeActions& out) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("the body is not JSON");
  if (!j.is_object()) return bad("the body must be a JSON object");
  out = {};
  out.policy_id = route.policy_id;
  const char* obs_key = route.single ? "observation" : "observations";
  const char* mask_key = route.single ? "action_mask" : "action_masks";
  for (const auto& [k, v] : j.items())
    if (k != obs_key && k != mask_key && k != "explore")
      return bad("unknown key " + core::quote(k) + " (known: " + obs_key + ", " + mask_key + ", explore)");
  if (!j.contains(obs_key)) return bad(std::string("'") + obs_key + "' is required");
  if (j.contains("explore")) {
    if (!j["explore"].is_boolean()) return bad("'explore' must be true or false");
    out.explore = j["explore"].get<bool>();
  }
  if (route.single) {
    out.observations.emplace_back();
    if (auto st = floats_of(j[obs_key], "'observation'", out.observations[0]); !st.ok()) return st;
    if (j.contains(mask_key)) {
      out.action_masks.emplace_back();
      if (auto st = floats_of(j[mask_key], "'action_mask'", out.action_masks[0]); !st.ok()) return st;
    }
    return {};
  }
  const auto& rows = j[obs_key];
  if (!rows.is_array()) return bad("'observations' must be a list of observations (lists of numbers)");
  out.observations.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    if (auto st = floats_of(rows[i], "observations[" + std::to_string(i) + "]", out.observations[i]); !st.ok())
      return st;
  if (j.contains(mask_key)) {
    const auto& masks = j[mask_key];
    if (!masks.is_array() || masks.size() != rows.size())
      return bad("'action_masks' must be a list with one mask per observation");
    out.action_masks.resize(masks.size());
    for (size_t i = 0; i < masks.size(); ++i)
      if (auto st = floats_of(masks[i], "action_masks[" + std::to_string(i) + "]", out.action_masks[i]); !st.ok())
        return st;
  }
  return {};
}

HttpJsonReply inference_error(const Status& st) {
  return {http_status_of(st.code), json{{"error", core::error_code_name(st.code)}, {"message", st.message}}.dump()};
}

HttpJsonReply format_inference_reply(const core::Reply& r, const InferenceRoute& route) {
  if (const auto* e = std::get_if<core::Error>(&r)) return inference_error(Status::error(e->code, e->message));
  const auto* a = std::get_if<core::Actions>(&r);
  if (!a) return inference_error(Status::error(ErrorCode::Internal, "unexpected reply"));
  json out = {{"policy_version", a->policy_version}};
  if (route.single) {
    out["action"] = a->actions.empty() ? json() : action_json(a->actions[0]);
  } else {
    json list = json::array();
    for (const auto& x : a->actions) list.push_back(action_json(x));
    out["actions"] = std::move(list);
  }
  return {200, out.dump()};
}

}  // namespace tandem::server
