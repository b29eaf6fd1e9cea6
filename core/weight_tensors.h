#pragma once
// A policy's weights as named float32 tensors, and their trip through size-bounded frames.
//
//   server: snapshot -> WeightTensors (whole tensors) -> one core::Weights -> split_weights()
//           -> chunks of at most max_floats floats (a large tensor becomes several parts)
//   client: chunks in order -> WeightAssembler::add() (checks every part) -> take()
//
// Nothing here trusts the peer: a chunk out of order, a part that overlaps, skips or overruns
// its tensor, a name that repeats or a size beyond the bounds is refused with a Status that
// says which, and the assembler is then unusable (start a new one).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/status.h"

namespace tandem::core {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, product(shape) elements
  bool operator==(const NamedTensor&) const = default;
};
using WeightTensors = std::vector<NamedTensor>;

// Bounds a client enforces on what a server sends.
inline constexpr int64_t kMaxWeightTensors = 4096;
inline constexpr int64_t kMaxWeightFloats = int64_t{1} << 28;  // 1 GiB of float32 in all
inline constexpr int32_t kMaxWeightChunks = 4096;

int64_t num_elements(const std::vector<int64_t>& shape);
// FNV-1a (32 bits) over every tensor's float32 bytes, in order: equal weights, equal checksum
// (the replicas of a group show it on /metrics).
uint32_t weights_checksum(const WeightTensors& w);  // -1 for a negative dimension

// One Weights reply holding `tensors` whole (chunk 0 of 1).
Weights whole_weights(const std::string& policy_id, int64_t version, const WeightTensors& tensors);

// `w` as chunks of at most max_floats floats of tensor data each (at least one chunk; a
// tensor larger than max_floats is split into parts at element boundaries).
std::vector<Weights> split_weights(const Weights& w, size_t max_floats);

class WeightAssembler {
 public:
  // Chunk 0 first, then 1, 2, ... of the same policy, version and num_chunks.
  Status add(const Weights& chunk);
  // Every chunk arrived and every tensor is complete.
  bool complete() const;
  const std::string& policy_id() const { return policy_id_; }
  int64_t version() const { return version_; }
  WeightTensors take();  // after complete()

 private:
  Status fail(std::string message);
  WeightTensors tensors_;
  std::string policy_id_;
  int64_t version_ = -1;
  int32_t num_chunks_ = 0, next_chunk_ = 0;
  int64_t total_floats_ = 0;
  bool failed_ = false;
};

}  // namespace tandem::core
