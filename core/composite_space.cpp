#include "core/composite_space.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace tandem::core::composite {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("space: " + msg); }

int depth_of(const Space& s) {
  int d = 0;
  for (const auto& c : s.components) d = std::max(d, depth_of(c));
  return s.composite() ? d + 1 : 0;
}

int64_t count_of(const Space& s) {
  int64_t n = 1;
  for (const auto& c : s.components) n += count_of(c);
  return n;
}

void check_key(const std::string& k) {
  const bool ok = !k.empty() && k.size() <= kMaxSpaceKeyBytes &&
                  std::all_of(k.begin(), k.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '_' || c == '-';
                  });
  if (!ok)
    bad("Dict key '" + k.substr(0, kMaxSpaceKeyBytes) + "' must be 1.." + std::to_string(kMaxSpaceKeyBytes) +
        " letters, digits, '_' or '-'");
}

// Validates one component (leaf or composite) at `path`; a leaf's message gets the path.
std::string validate_at(const Space& s, std::span<const float> raw, const std::string& path) {
  if (!s.composite()) {
    auto why = s.validate(raw);
    return why.empty() ? why : "component '" + path + "': " + why;
  }
  size_t off = 0;
  for (size_t i = 0; i < s.components.size(); ++i) {
    const auto& c = s.components[i];
    const auto n = static_cast<size_t>(c.raw_size());
    if (auto why = validate_at(c, raw.subspan(off, n), child_path(s, path, i)); !why.empty()) return why;
    off += n;
  }
  return {};
}

}  // namespace

std::string child_path(const Space& parent, const std::string& path, size_t i) {
  if (parent.kind == SpaceKind::Tuple) return path + "[" + std::to_string(i) + "]";
  return path.empty() ? parent.keys[i] : path + "." + parent.keys[i];
}

void check_bounds(const Space& s) {
  if (s.components.empty()) bad(std::string(s.kind == SpaceKind::Dict ? "Dict" : "Tuple") + " must not be empty");
  if (depth_of(s) > kMaxSpaceDepth) bad("Dict/Tuple nested deeper than " + std::to_string(kMaxSpaceDepth));
  if (count_of(s) > kMaxSpaceComponents)
    bad("more than " + std::to_string(kMaxSpaceComponents) + " components in one space");
  if (raw_size(s) > kMaxSpaceSize || preprocessed_size(s) > kMaxSpaceSize)
    bad("more than " + std::to_string(kMaxSpaceSize) + " values in one space");
}

int64_t raw_size(const Space& s) {
  int64_t n = 0;
  for (const auto& c : s.components) n += c.raw_size();
  return n;
}

int64_t preprocessed_size(const Space& s) {
  int64_t n = 0;
  for (const auto& c : s.components) n += c.preprocessed_size();
  return n;
}

std::string validate(const Space& s, std::span<const float> raw) {
  const int64_t want = s.raw_size();
  if (static_cast<int64_t>(raw.size()) != want)
    return "expected " + std::to_string(want) + " values for " + s.describe().substr(0, 400) + ", got " +
           std::to_string(raw.size());
  return validate_at(s, raw, "");
}

void preprocess(const Space& s, std::span<const float> raw, float* out, float clip) {
  size_t off = 0;
  for (const auto& c : s.components) {
    const auto n = static_cast<size_t>(c.raw_size());
    c.preprocess(raw.subspan(off, n), out, clip);
    off += n;
    out += c.preprocessed_size();
  }
}

Space from_json(const nlohmann::json& j, int depth) {
  const auto type = j.at("type").get<std::string>();
  for (const auto& [k, v] : j.items())
    if (k != "type" && k != "spaces") bad("unknown key '" + k + "'");
  if (!j.contains("spaces")) bad("missing key 'spaces'");
  if (depth >= kMaxSpaceDepth) bad("Dict/Tuple nested deeper than " + std::to_string(kMaxSpaceDepth));
  const auto& sj = j["spaces"];
  if (sj.size() > static_cast<size_t>(kMaxSpaceComponents))
    bad("more than " + std::to_string(kMaxSpaceComponents) + " components in one space");
  auto read = [&](const nlohmann::json& c, const std::string& where) {
    try {
      if (c.is_object() && c.contains("type") && c["type"].is_string() &&
          (c["type"] == "dict" || c["type"] == "tuple"))
        return from_json(c, depth + 1);
      return Space::from_json(c);
    } catch (const std::invalid_argument& e) {
      std::string what = e.what();
      if (what.rfind("space: ", 0) == 0) what = what.substr(7);
      bad("in '" + where + "': " + what);
    }
  };
  if (type == "dict") {
    if (!sj.is_object()) bad("'spaces' of a dict must be an object {name: space}, got " + sj.dump().substr(0, 200));
    std::vector<std::pair<std::string, Space>> comps;
    for (const auto& [k, v] : sj.items()) {
      check_key(k);
      comps.emplace_back(k, read(v, "spaces." + k));
    }
    return Space::dict(std::move(comps));
  }
  if (!sj.is_array()) bad("'spaces' of a tuple must be a list of spaces, got " + sj.dump().substr(0, 200));
  std::vector<Space> comps;
  for (size_t i = 0; i < sj.size(); ++i) comps.push_back(read(sj[i], "spaces[" + std::to_string(i) + "]"));
  return Space::tuple(std::move(comps));
}

nlohmann::json to_json(const Space& s) {
  nlohmann::json j;
  if (s.kind == SpaceKind::Dict) {
    j["type"] = "dict";
    j["spaces"] = nlohmann::json::object();
    for (size_t i = 0; i < s.keys.size(); ++i) j["spaces"][s.keys[i]] = s.components[i].to_json();
  } else {
    j["type"] = "tuple";
    j["spaces"] = nlohmann::json::array();
    for (const auto& c : s.components) j["spaces"].push_back(c.to_json());
  }
  return j;
}

std::string describe(const Space& s) {
  std::string out = s.kind == SpaceKind::Dict ? "Dict(" : "Tuple(";
  for (size_t i = 0; i < s.components.size(); ++i) {
    if (i) out += ", ";
    if (s.kind == SpaceKind::Dict) out += s.keys[i] + ": ";
    out += s.components[i].describe();
  }
  return out + ")";
}

}  // namespace tandem::core::composite

namespace tandem::core {

Space Space::dict(std::vector<std::pair<std::string, Space>> components) {
  std::sort(components.begin(), components.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Space s;
  s.kind = SpaceKind::Dict;
  for (auto& [k, c] : components) {
    composite::check_key(k);
    if (!s.keys.empty() && s.keys.back() == k) throw std::invalid_argument("space: duplicate Dict key '" + k + "'");
    s.keys.push_back(k);
    s.components.push_back(std::move(c));
  }
  composite::check_bounds(s);
  return s;
}

Space Space::tuple(std::vector<Space> components) {
  Space s;
  s.kind = SpaceKind::Tuple;
  s.components = std::move(components);
  composite::check_bounds(s);
  return s;
}

}  // namespace tandem::core
