#include "core/spaces.h"

#include "core/composite_space.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace tandem::core {
namespace {

constexpr float kUnbounded = 1e30f;

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

std::string fmt_float(float x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// Box bounds are stored per element, or both empty when the box is unbounded.
void normalize_bounds(Space& s) {
  const bool unbounded =
      std::all_of(s.low.begin(), s.low.end(), [](float x) { return x <= -kUnbounded; }) &&
      std::all_of(s.high.begin(), s.high.end(), [](float x) { return x >= kUnbounded; });
  if (unbounded) {
    s.low.clear();
    s.high.clear();
  }
}

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("space: " + msg); }

int64_t json_int(const nlohmann::json& j, const std::string& key, int64_t min_value) {
  if (!j.is_number_integer()) bad("'" + key + "' must be an integer, got " + j.dump());
  const auto v = j.get<int64_t>();
  if (v < min_value)
    bad("'" + key + "' must be >= " + std::to_string(min_value) + ", got " + std::to_string(v));
  return v;
}

std::vector<int64_t> json_int_list(const nlohmann::json& j, const std::string& key,
                                   int64_t min_value, bool allow_empty) {
  if (!j.is_array()) bad("'" + key + "' must be a list of integers, got " + j.dump());
  if (!allow_empty && j.empty()) bad("'" + key + "' must not be empty");
  std::vector<int64_t> out;
  for (const auto& e : j) out.push_back(json_int(e, key + " element", min_value));
  return out;
}

std::vector<float> json_bounds(const nlohmann::json& j, const std::string& key, int64_t size) {
  if (j.is_number()) return std::vector<float>(static_cast<size_t>(size), j.get<float>());
  if (j.is_array()) {
    if (static_cast<int64_t>(j.size()) != size)
      bad("'" + key + "' has " + std::to_string(j.size()) + " values, the shape needs " +
          std::to_string(size));
    std::vector<float> out;
    for (const auto& e : j) {
      if (!e.is_number()) bad("'" + key + "' must hold numbers, got " + e.dump());
      out.push_back(e.get<float>());
    }
    return out;
  }
  bad("'" + key + "' must be a number or a list of numbers, got " + j.dump());
}

void check_keys(const nlohmann::json& j, std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : j.items()) {
    if (std::none_of(allowed.begin(), allowed.end(), [&key = k](const char* a) { return key == a; }))
      bad("unknown key '" + k + "'");
  }
}

}  // namespace

Space Space::box(std::vector<int64_t> shape, float low, float high) {
  Space s;
  s.kind = SpaceKind::Box;
  for (int64_t d : shape)
    if (d < 1) throw std::invalid_argument("space: Box dimensions must be >= 1");
  s.shape = std::move(shape);
  const auto size = static_cast<size_t>(product(s.shape));
  s.low.assign(size, low);
  s.high.assign(size, high);
  normalize_bounds(s);
  return s;
}

Space Space::discrete(int64_t n) {
  if (n < 1)
    throw std::invalid_argument("space: Discrete n must be >= 1, got " + std::to_string(n));
  Space s;
  s.kind = SpaceKind::Discrete;
  s.n = n;
  return s;
}

Space Space::multi_discrete(std::vector<int64_t> nvec) {
  if (nvec.empty()) throw std::invalid_argument("space: MultiDiscrete nvec must not be empty");
  for (int64_t n : nvec)
    if (n < 1)
      throw std::invalid_argument("space: MultiDiscrete nvec values must be >= 1, got " +
                                  std::to_string(n));
  Space s;
  s.kind = SpaceKind::MultiDiscrete;
  s.nvec = std::move(nvec);
  return s;
}

int64_t Space::raw_size() const {
  switch (kind) {
    case SpaceKind::Box:
      return product(shape);
    case SpaceKind::Discrete:
      return 1;
    case SpaceKind::MultiDiscrete:
      return static_cast<int64_t>(nvec.size());
    case SpaceKind::Dict:
    case SpaceKind::Tuple:
      return composite::raw_size(*this);
  }
  return 0;
}

int64_t Space::preprocessed_size() const {
  switch (kind) {
    case SpaceKind::Box:
      return product(shape);
    case SpaceKind::Discrete:
      return n;
    case SpaceKind::MultiDiscrete: {
      int64_t s = 0;
      for (int64_t x : nvec) s += x;
      return s;
    }
    case SpaceKind::Dict:
    case SpaceKind::Tuple:
      return composite::preprocessed_size(*this);
  }
  return 0;
}

std::string Space::validate(std::span<const float> raw) const {
  if (composite()) return composite::validate(*this, raw);
  const int64_t want = raw_size();
  if (static_cast<int64_t>(raw.size()) != want)
    return "expected " + std::to_string(want) + " value" + (want == 1 ? "" : "s") + " for " +
           describe() + ", got " + std::to_string(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const float x = raw[i];
    if (std::isnan(x)) return "element " + std::to_string(i) + " of " + describe() + " is NaN";
    if (std::isinf(x)) return "element " + std::to_string(i) + " of " + describe() + " is infinite";
    if (kind == SpaceKind::Box) {
      if (low.empty()) continue;  // unbounded
      const float lo = low[i], hi = high[i];
      const float tlo = kBoxTolerance * std::max(1.f, std::fabs(lo)), thi = kBoxTolerance * std::max(1.f, std::fabs(hi));
      if (x < lo - tlo || x > hi + thi)
        return "element " + std::to_string(i) + " of " + describe() + " is " + fmt_float(x) +
               ", outside its bounds [" + fmt_float(lo) + ", " + fmt_float(hi) + "]";
      continue;
    }
    const int64_t n_i = kind == SpaceKind::Discrete ? n : nvec[i];
    if (x != std::floor(x) || x < 0.f || x >= static_cast<float>(n_i))
      return "element " + std::to_string(i) + " of " + describe() + " must be an integer in [0, " +
             std::to_string(n_i) + "), got " + fmt_float(x);
  }
  return {};
}

void Space::preprocess(std::span<const float> raw, float* out, float clip) const {
  switch (kind) {
    case SpaceKind::Box:
      if (clip > 0.f)
        std::transform(raw.begin(), raw.end(), out, [clip](float x) { return std::clamp(x, -clip, clip); });
      else
        std::copy(raw.begin(), raw.end(), out);
      return;
    case SpaceKind::Discrete:
      std::fill(out, out + n, 0.f);
      out[static_cast<int64_t>(raw[0])] = 1.f;
      return;
    case SpaceKind::MultiDiscrete: {
      int64_t off = 0;
      for (size_t i = 0; i < nvec.size(); ++i) {
        std::fill(out + off, out + off + nvec[i], 0.f);
        out[off + static_cast<int64_t>(raw[i])] = 1.f;
        off += nvec[i];
      }
      return;
    }
    case SpaceKind::Dict:
    case SpaceKind::Tuple:
      composite::preprocess(*this, raw, out, clip);
      return;
  }
}

Space Space::from_json(const nlohmann::json& j) {
  if (!j.is_object()) bad("must be an object, got " + j.dump());
  if (!j.contains("type")) bad("missing key 'type'");
  if (!j["type"].is_string()) bad("'type' must be a string, got " + j["type"].dump());
  const auto type = j["type"].get<std::string>();
  if (type == "box") {
    check_keys(j, {"type", "shape", "low", "high"});
    if (!j.contains("shape")) bad("missing key 'shape'");
    Space s;
    s.kind = SpaceKind::Box;
    s.shape = json_int_list(j["shape"], "shape", 1, /*allow_empty=*/true);
    int64_t size = 1;  // checked before anything is allocated (dimensions >= 1: no overflow below)
    for (int64_t d : s.shape)
      if ((size *= d) > kMaxSpaceSize) bad("a Box of more than " + std::to_string(kMaxSpaceSize) + " values");
    s.low = j.contains("low") ? json_bounds(j["low"], "low", size)
                              : std::vector<float>(static_cast<size_t>(size), -kUnbounded);
    s.high = j.contains("high") ? json_bounds(j["high"], "high", size)
                                : std::vector<float>(static_cast<size_t>(size), kUnbounded);
    for (int64_t i = 0; i < size; ++i) {
      const auto k = static_cast<size_t>(i);
      if (std::isnan(s.low[k]) || std::isnan(s.high[k]) || s.low[k] > s.high[k])
        bad("'low' must be <= 'high' (element " + std::to_string(i) + ": " + fmt_float(s.low[k]) +
            " > " + fmt_float(s.high[k]) + ")");
    }
    normalize_bounds(s);
    return s;
  }
  if (type == "discrete") {
    check_keys(j, {"type", "n"});
    if (!j.contains("n")) bad("missing key 'n'");
    const int64_t n = json_int(j["n"], "n", 1);
    if (n > kMaxSpaceSize) bad("'n' above " + std::to_string(kMaxSpaceSize) + " (the model's one-hot input)");
    return discrete(n);
  }
  if (type == "multi_discrete") {
    check_keys(j, {"type", "nvec"});
    if (!j.contains("nvec")) bad("missing key 'nvec'");
    auto nvec = json_int_list(j["nvec"], "nvec", 1, /*allow_empty=*/false);
    int64_t total = 0;  // each n <= kMaxSpaceSize before summing: no overflow
    for (int64_t n : nvec)
      if (n > kMaxSpaceSize || (total += n) > kMaxSpaceSize)
        bad("'nvec' sums above " + std::to_string(kMaxSpaceSize) + " (the model's one-hot input)");
    return multi_discrete(std::move(nvec));
  }
  if (type == "dict" || type == "tuple") return composite::from_json(j, 0);
  bad("unknown 'type' '" + type + "' (known: box, discrete, multi_discrete, dict, tuple)");
}

nlohmann::json Space::to_json() const {
  nlohmann::json j;
  switch (kind) {
    case SpaceKind::Box: {
      j["type"] = "box";
      j["shape"] = shape;
      auto bound = [](const std::vector<float>& v) -> nlohmann::json {
        if (!v.empty() && std::all_of(v.begin(), v.end(), [&](float x) { return x == v[0]; }))
          return v[0];
        return v;
      };
      if (!low.empty()) {
        j["low"] = bound(low);
        j["high"] = bound(high);
      }
      break;
    }
    case SpaceKind::Discrete:
      j["type"] = "discrete";
      j["n"] = n;
      break;
    case SpaceKind::MultiDiscrete:
      j["type"] = "multi_discrete";
      j["nvec"] = nvec;
      break;
    case SpaceKind::Dict:
    case SpaceKind::Tuple:
      return composite::to_json(*this);
  }
  return j;
}

std::string Space::describe() const {
  std::ostringstream os;
  switch (kind) {
    case SpaceKind::Box:
      os << "Box(";
      for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
      if (shape.size() == 1) os << ",";
      os << ")";
      break;
    case SpaceKind::Discrete:
      os << "Discrete(" << n << ")";
      break;
    case SpaceKind::MultiDiscrete:
      os << "MultiDiscrete([";
      for (size_t i = 0; i < nvec.size(); ++i) os << (i ? ", " : "") << nvec[i];
      os << "])";
      break;
    case SpaceKind::Dict:
    case SpaceKind::Tuple:
      return composite::describe(*this);
  }
  return os.str();
}

}  // namespace tandem::core
