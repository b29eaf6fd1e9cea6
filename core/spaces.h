#pragma once
// Observation and action spaces, and the RLlib-style preprocessing that turns a raw
// observation (what the simulator sends: a flat float vector) into the model's input.
// No LibTorch here: the server's network layer and the client use this header.
//
// Composite observation spaces (Dict, Tuple; core/composite_space.cpp): their raw value is
// the concatenation of their components' raw values, depth-first, Dict components in SORTED
// key order (gym's spaces.Dict, RLlib's flattening), Tuple components in their order. Their
// preprocessed value is the concatenation of the components' preprocessed values (Discrete
// one-hot, Box clipped, ...). Action spaces are never composite (core/policy_set.cpp).
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tandem::core {

enum class SpaceKind { Box, Discrete, MultiDiscrete, Dict, Tuple };

constexpr float kBoxTolerance = 1e-4f;
// Bounds of a composite space read from an untrusted config or GetConfig reply.
constexpr int kMaxSpaceDepth = 8;             // nesting levels of Dict/Tuple
constexpr int64_t kMaxSpaceComponents = 1024; // components (leaves and composites) in one space
constexpr size_t kMaxSpaceKeyBytes = 64;      // a Dict key: letters, digits, '_' and '-'
constexpr int64_t kMaxSpaceSize = 1 << 24;    // raw and preprocessed floats of a composite space

struct Space {
  SpaceKind kind = SpaceKind::Box;
  std::vector<int64_t> shape;   // Box: tensor shape (flattened row-major on the wire)
  std::vector<float> low, high; // Box: bounds (one per element, or empty = unbounded)
  int64_t n = 0;                // Discrete: number of values
  std::vector<int64_t> nvec;    // MultiDiscrete: number of values of each component
  std::vector<std::string> keys;  // Dict: component names, sorted (the flattening order)
  std::vector<Space> components;  // Dict: one per key, in key order; Tuple: in order

  static Space box(std::vector<int64_t> shape, float low = -1e30f, float high = 1e30f);
  static Space discrete(int64_t n);
  static Space multi_discrete(std::vector<int64_t> nvec);
  // Components in any order (they are sorted by key); throws std::invalid_argument for an
  // empty dict, a duplicate or bad key, or beyond the bounds above.
  static Space dict(std::vector<std::pair<std::string, Space>> components);
  static Space tuple(std::vector<Space> components);
  bool composite() const { return kind == SpaceKind::Dict || kind == SpaceKind::Tuple; }

  // Number of floats a raw value of this space has on the wire
  // (Box: product of shape; Discrete: 1; MultiDiscrete: nvec.size()).
  int64_t raw_size() const;
  // Number of floats after preprocessing (Box: raw_size; Discrete: n (one-hot);
  // MultiDiscrete: sum(nvec) (concatenated one-hots); Dict/Tuple: the components' sum).
  int64_t preprocessed_size() const;

  // Checks a raw value: right size, finite, integers in range for (Multi)Discrete, and Box
  // elements within [low - tol, high + tol], tol = kBoxTolerance * max(1, |bound|) (float
  // rounding in simulators). Returns an empty string when valid, else a message naming the
  // element, the value and the bound (in a Dict/Tuple also the component's path:
  // "component 'robot_position': element 1 of Box(2,) ...", nested "a.b", "t[1]").
  std::string validate(std::span<const float> raw) const;
  // Writes preprocessed_size() floats to `out`. `raw` must have passed validate(). Box
  // elements are clipped to [-clip, clip] when clip > 0 (AlgoConfig::observation_clip).
  void preprocess(std::span<const float> raw, float* out, float clip = 0.f) const;

  // JSON form: {"type":"box","shape":[4],"low":-1,"high":1} (low/high scalar or list),
  // {"type":"discrete","n":2}, {"type":"multi_discrete","nvec":[100,100]},
  // {"type":"dict","spaces":{"name":{...}, ...}}, {"type":"tuple","spaces":[{...}, ...]}.
  // from_json throws std::invalid_argument naming the bad key.
  static Space from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  // e.g. "Box(4,)", "Discrete(2)", "MultiDiscrete([100, 100])",
  // "Dict(a: Box(10, 5), b: Discrete(3))", "Tuple(Box(2,), Discrete(3))"
  std::string describe() const;
  bool operator==(const Space&) const = default;
};

}  // namespace tandem::core
