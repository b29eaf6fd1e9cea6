#pragma once
// A PolicySpec from its parts and a JSON text of config overrides (algorithm unit tests).
#include <string>

#include <nlohmann/json.hpp>

#include "core/policy_spec.h"

namespace tandem::test {

inline core::PolicySpec policy_spec(std::string id, core::Space observation_space, core::Space action_space,
                                    const char* overrides = "{}") {
  core::PolicySpec spec{std::move(id), std::move(observation_space), std::move(action_space), {}, {}};
  spec.config.merge_json(nlohmann::json::parse(overrides));
  return spec;
}

}  // namespace tandem::test
