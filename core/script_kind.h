#pragma once
// The names of the scripted policies (core/scripted_policy.h says what each one does).
#include <optional>
#include <string_view>

namespace tandem::core {

enum class ScriptKind { kRandom, kAlwaysSame, kLinear, kBeatLast };

// "random", "always_same", "linear", "beat_last"; nullopt for any other name.
std::optional<ScriptKind> script_kind_from_name(std::string_view name);
const char* script_kind_name(ScriptKind kind);

}  // namespace tandem::core
