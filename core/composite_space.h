#pragma once
// The Dict and Tuple parts of core::Space (spaces.h), kept out of spaces.cpp. Internal to
// tandem_core: callers use Space's members, which dispatch here for composite kinds.
#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/spaces.h"

namespace tandem::core::composite {

int64_t raw_size(const Space& s);
int64_t preprocessed_size(const Space& s);
std::string validate(const Space& s, std::span<const float> raw);
void preprocess(const Space& s, std::span<const float> raw, float* out, float clip);
// `j` has "type" "dict" or "tuple"; depth = the nesting level of `j` (0 at the top).
Space from_json(const nlohmann::json& j, int depth);
nlohmann::json to_json(const Space& s);
std::string describe(const Space& s);
// Throws std::invalid_argument when `s` (a freshly built Dict/Tuple) exceeds the bounds.
void check_bounds(const Space& s);
// The path of a component below `parent` ("" at the top): "a", "a.b", "t[1]", "[0]".
std::string child_path(const Space& parent, const std::string& path, size_t i);

}  // namespace tandem::core::composite
