#pragma once
// Reading one sample out of Prometheus text exposition (GET /metrics), for the tests and
// bench/soak. No doctest here.
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

namespace tandem::test {

// The value of the sample `name` (no labels) in Prometheus text; nullopt when absent.
inline std::optional<double> find_metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos || line.compare(0, sp, name) != 0 || sp != name.size()) continue;
    const std::string v = line.substr(sp + 1);
    if (v == "NaN") return std::nan("");
    if (v == "+Inf") return HUGE_VAL;
    if (v == "-Inf") return -HUGE_VAL;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str()) return std::nullopt;
    return d;
  }
  return std::nullopt;
}

}  // namespace tandem::test
