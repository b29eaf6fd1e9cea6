#include "core/named_obs.h"

#include <set>

#include "core/composite_space.h"
#include "core/text.h"

namespace tandem::core {
namespace {

struct Flattener {
  const NamedObs& named;
  std::vector<float>& out;
  std::set<std::string> used;

  bool has_parts(const std::string& path) const {
    for (const char* sep : {".", "["}) {
      const std::string prefix = path + sep;
      auto it = named.lower_bound(prefix);
      if (it != named.end() && it->first.compare(0, prefix.size(), prefix) == 0) return true;
    }
    return false;
  }

  Status component(const Space& s, const std::string& path) {
    if (auto it = named.find(path); it != named.end()) {
      used.insert(path);
      const auto want = static_cast<size_t>(s.raw_size());
      if (it->second.size() != want)
        return Status::error(ErrorCode::BadObservation,
                             "component " + quote(path) + " has " + std::to_string(it->second.size()) +
                                 " values, " + s.describe().substr(0, 200) + " needs " + std::to_string(want));
      out.insert(out.end(), it->second.begin(), it->second.end());
      return {};
    }
    if (s.composite() && has_parts(path)) return parts(s, path);
    return Status::error(ErrorCode::BadObservation,
                         "component " + quote(path) + " (" + s.describe().substr(0, 200) + ") is missing");
  }

  Status parts(const Space& s, const std::string& path) {
    for (size_t i = 0; i < s.components.size(); ++i)
      if (auto st = component(s.components[i], composite::child_path(s, path, i)); !st.ok()) return st;
    return {};
  }
};

void all_paths(const Space& s, const std::string& path, std::set<std::string>& paths) {
  for (size_t i = 0; i < s.components.size(); ++i) {
    auto p = composite::child_path(s, path, i);
    if (s.components[i].composite()) all_paths(s.components[i], p, paths);
    paths.insert(std::move(p));
  }
}

std::string known_names(const Space& s) {
  std::string list;
  for (size_t i = 0; i < s.keys.size() && i < 16; ++i) list += (i ? ", " : "") + s.keys[i];
  if (s.keys.size() > 16) list += ", ...";
  return list;
}

}  // namespace

Status flatten_named(const Space& space, const NamedObs& named, std::vector<float>& out) {
  out.clear();
  if (space.kind != SpaceKind::Dict)
    return Status::error(ErrorCode::BadObservation,
                         "named components need a Dict observation space; this one is " +
                             space.describe().substr(0, 200) + " (send the flat vector)");
  out.reserve(static_cast<size_t>(space.raw_size()));
  // An unknown name first: a misspelt component would otherwise be reported as missing.
  std::set<std::string> paths;
  all_paths(space, "", paths);
  for (const auto& [name, values] : named)
    if (!paths.count(name))
      return Status::error(ErrorCode::BadObservation, "unknown component " + quote(name) +
                                                          " (the Dict has: " + known_names(space) + ")");
  Flattener f{named, out, {}};
  if (auto st = f.parts(space, ""); !st.ok()) return st;
  for (const auto& [name, values] : named)
    if (!f.used.count(name))
      return Status::error(ErrorCode::BadObservation,
                           "component " + quote(name) + " is given twice: whole and by its parts");
  return {};
}

}  // namespace tandem::core
