// The algorithm registry (torch-free: the factories live in algorithms/torch/).
#include <functional>
#include <stdexcept>
#include <utility>

#include "algorithms/policy.h"
#include "algorithms/torch/algorithms.h"

namespace tandem::algo {
namespace {

using Factory = std::function<std::unique_ptr<Algorithm>(const PolicySpec&, uint64_t)>;

const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> kRegistry = {
      {"ppo", make_ppo},
      {"a2c", make_a2c},
      {"marwil", make_marwil},
      {"crr", make_crr},
  };
  return kRegistry;
}

}  // namespace

std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const PolicySpec& spec,
                                          uint64_t seed) {
  for (const auto& [n, factory] : registry())
    if (n == name) return factory(spec, seed);
  std::string known;
  for (const auto& [n, f] : registry()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown algorithm '" + name + "' (known: " + known + ")");
}

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const auto& [n, f] : registry()) names.push_back(n);
  return names;
}

}  // namespace tandem::algo
