#pragma once
// Observations given as named components of a Dict observation space (a simulator's
// {"robot_position": [...], "chicken_oceans": [...]}) turned into the flat raw vector the
// wire carries (core/spaces.h: Dict components in sorted key order, depth-first). The C++
// client (PolicyClient's AgentNamedObs overloads) calls it; the Python client has its twin
// in python/tandem/spaces.py (flatten_named), held together by tests.
#include <map>
#include <string>
#include <vector>

#include "core/spaces.h"
#include "core/status.h"

namespace tandem::core {

// Component name -> its raw value (Box: row-major elements; Discrete: 1 float, the index;
// MultiDiscrete: one float per component). A nested Dict/Tuple component is given either
// whole (its own flat raw value under its name) or by its parts' paths: "outer.inner",
// "outer[1]" (a Tuple inside a Dict).
using NamedObs = std::map<std::string, std::vector<float>>;

// Writes space.raw_size() floats to `out` (resized). BadObservation, naming the component,
// for a name the space does not have, a missing component, or a wrong number of values; and
// for a space that is not a Dict. The values themselves are checked later, as every raw
// observation is (Space::validate, by the server or the local client).
Status flatten_named(const Space& space, const NamedObs& named, std::vector<float>& out);

}  // namespace tandem::core
