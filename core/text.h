#pragma once
// Client-supplied strings: what an id may be, and how an error message quotes one.
// Ids travel in FlatBuffers strings (which readers in other languages require to be UTF-8)
// and are echoed in replies and logs, so they are checked once at the edge and always
// quoted through quote(), which never returns more than a few dozen characters.
#include <cstddef>
#include <string>
#include <string_view>

namespace tandem::core {

constexpr size_t kMaxEpisodeIdBytes = 256;
constexpr size_t kMaxAgentIdBytes = 128;
constexpr size_t kMaxNameBytes = 128;    // policy ids, custom metric names
constexpr size_t kQuotedChars = 40;      // at most this much client text in a message

// Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);
// Empty when `s` may be used as an id of this kind ("episode id", "agent id", ...): at most
// max_bytes, valid UTF-8, no control characters; else the reason (with the id quoted).
std::string check_id(std::string_view s, size_t max_bytes, std::string_view what);
// 'text' for a message: at most kQuotedChars bytes (then "..."), control and non-UTF-8
// bytes as \xNN.
std::string quote(std::string_view s);

}  // namespace tandem::core
