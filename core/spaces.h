#pragma once
// Observation and action spaces, and the RLlib-style preprocessing that turns a raw
// observation (what the simulator sends: a flat float vector) into the model's input.
// No LibTorch here: the server's network layer and the client use this header.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tandem::core {

enum class SpaceKind { Box, Discrete, MultiDiscrete };

constexpr float kBoxTolerance = 1e-4f;

struct Space {
  SpaceKind kind = SpaceKind::Box;
  std::vector<int64_t> shape;   // Box: tensor shape (flattened row-major on the wire)
  std::vector<float> low, high; // Box: bounds (one per element, or empty = unbounded)
  int64_t n = 0;                // Discrete: number of values
  std::vector<int64_t> nvec;    // MultiDiscrete: number of values of each component

  static Space box(std::vector<int64_t> shape, float low = -1e30f, float high = 1e30f);
  static Space discrete(int64_t n);
  static Space multi_discrete(std::vector<int64_t> nvec);

  // Number of floats a raw value of this space has on the wire
  // (Box: product of shape; Discrete: 1; MultiDiscrete: nvec.size()).
  int64_t raw_size() const;
  // Number of floats after preprocessing (Box: raw_size; Discrete: n (one-hot);
  // MultiDiscrete: sum(nvec) (concatenated one-hots)).
  int64_t preprocessed_size() const;

  // Checks a raw value: right size, finite, integers in range for (Multi)Discrete, and Box
  // elements within [low - tol, high + tol], tol = kBoxTolerance * max(1, |bound|) (float
  // rounding in simulators). Returns an empty string when valid, else a message naming the
  // element, the value and the bound.
  std::string validate(std::span<const float> raw) const;
  // Writes preprocessed_size() floats to `out`. `raw` must have passed validate(). Box
  // elements are clipped to [-clip, clip] when clip > 0 (AlgoConfig::observation_clip).
  void preprocess(std::span<const float> raw, float* out, float clip = 0.f) const;

  // JSON form: {"type":"box","shape":[4],"low":-1,"high":1} (low/high scalar or list),
  // {"type":"discrete","n":2}, {"type":"multi_discrete","nvec":[100,100]}.
  // from_json throws std::invalid_argument naming the bad key.
  static Space from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  std::string describe() const;  // e.g. "Box(4,)", "Discrete(2)", "MultiDiscrete([100, 100])"
  bool operator==(const Space&) const = default;
};

}  // namespace tandem::core
