#include "core/weight_tensors.h"

#include <algorithm>
#include <limits>

#include "core/text.h"

namespace tandem::core {

int64_t num_elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d > 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

Weights whole_weights(const std::string& policy_id, int64_t version, const WeightTensors& tensors) {
  Weights w;
  w.policy_id = policy_id;
  w.version = version;
  w.tensors.reserve(tensors.size());
  for (const auto& t : tensors) w.tensors.push_back(TensorPart{t.name, t.shape, 0, t.data});
  return w;
}

std::vector<Weights> split_weights(const Weights& w, size_t max_floats) {
  max_floats = std::max<size_t>(1, max_floats);
  std::vector<Weights> out;
  auto open_chunk = [&] {
    Weights c;
    c.policy_id = w.policy_id;
    c.version = w.version;
    c.chunk_index = static_cast<int32_t>(out.size());
    out.push_back(std::move(c));
  };
  open_chunk();
  size_t room = max_floats;
  for (const auto& t : w.tensors) {
    size_t done = 0;
    do {  // an empty tensor still gets its (empty) part
      if (room == 0) {
        open_chunk();
        room = max_floats;
      }
      const size_t n = std::min(room, t.data.size() - done);
      TensorPart part{t.name, t.shape, t.offset + static_cast<int64_t>(done), {}};
      part.data.assign(t.data.begin() + static_cast<std::ptrdiff_t>(done),
                       t.data.begin() + static_cast<std::ptrdiff_t>(done + n));
      out.back().tensors.push_back(std::move(part));
      done += n;
      room -= n;
    } while (done < t.data.size());
  }
  for (auto& c : out) c.num_chunks = static_cast<int32_t>(out.size());
  return out;
}

Status WeightAssembler::fail(std::string message) {
  failed_ = true;
  return Status::error(ErrorCode::BadFrame, "weights of policy " + quote(policy_id_) + ": " + message);
}

Status WeightAssembler::add(const Weights& c) {
  if (failed_) return fail("an earlier chunk was refused");
  if (next_chunk_ == 0) {
    policy_id_ = c.policy_id;
    version_ = c.version;
    num_chunks_ = c.num_chunks;
    if (num_chunks_ < 1 || num_chunks_ > kMaxWeightChunks)
      return fail("num_chunks " + std::to_string(num_chunks_) + " is not in [1, " +
                  std::to_string(kMaxWeightChunks) + "]");
  } else if (c.policy_id != policy_id_ || c.version != version_ || c.num_chunks != num_chunks_) {
    return fail("chunk " + std::to_string(c.chunk_index) + " belongs to another weight set");
  }
  if (c.chunk_index != next_chunk_)
    return fail("chunk " + std::to_string(c.chunk_index) + " arrived, expected " + std::to_string(next_chunk_));
  if (next_chunk_ >= num_chunks_) return fail("more chunks than num_chunks");
  ++next_chunk_;
  for (const auto& p : c.tensors) {
    const int64_t n = num_elements(p.shape);
    if (p.name.empty()) return fail("a tensor has no name");
    if (n < 0 || n > kMaxWeightFloats) return fail("tensor " + quote(p.name) + " has a bad shape");
    NamedTensor* t = tensors_.empty() ? nullptr : &tensors_.back();
    if (t && t->name == p.name && static_cast<int64_t>(t->data.size()) < num_elements(t->shape)) {
      if (p.shape != t->shape) return fail("tensor " + quote(p.name) + " changes its shape between parts");
    } else {  // a new tensor: the previous one must be complete and the name new
      if (t && static_cast<int64_t>(t->data.size()) != num_elements(t->shape))
        return fail("tensor " + quote(t->name) + " ends before all its elements arrived");
      if (std::any_of(tensors_.begin(), tensors_.end(), [&](const NamedTensor& x) { return x.name == p.name; }))
        return fail("tensor " + quote(p.name) + " appears twice");
      if (static_cast<int64_t>(tensors_.size()) >= kMaxWeightTensors) return fail("too many tensors");
      tensors_.push_back(NamedTensor{p.name, p.shape, {}});
      tensors_.back().data.reserve(static_cast<size_t>(n));
      t = &tensors_.back();
    }
    if (p.offset != static_cast<int64_t>(t->data.size()))
      return fail("tensor " + quote(p.name) + ": part at offset " + std::to_string(p.offset) + ", expected " +
                  std::to_string(t->data.size()));
    if (static_cast<int64_t>(t->data.size() + p.data.size()) > n)
      return fail("tensor " + quote(p.name) + ": parts hold more than its " + std::to_string(n) + " elements");
    total_floats_ += static_cast<int64_t>(p.data.size());
    if (total_floats_ > kMaxWeightFloats) return fail("more than " + std::to_string(kMaxWeightFloats) + " floats");
    t->data.insert(t->data.end(), p.data.begin(), p.data.end());
  }
  if (next_chunk_ == num_chunks_ && !tensors_.empty() &&
      static_cast<int64_t>(tensors_.back().data.size()) != num_elements(tensors_.back().shape))
    return fail("tensor " + quote(tensors_.back().name) + " ends before all its elements arrived");
  return Status{};
}

bool WeightAssembler::complete() const { return !failed_ && num_chunks_ > 0 && next_chunk_ == num_chunks_; }

WeightTensors WeightAssembler::take() { return std::move(tensors_); }

uint32_t weights_checksum(const WeightTensors& w) {
  uint32_t h = 2166136261u;
  for (const auto& t : w) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data.data());
    for (size_t i = 0; i < t.data.size() * sizeof(float); ++i) h = (h ^ bytes[i]) * 16777619u;
  }
  return h;
}

}  // namespace tandem::core
