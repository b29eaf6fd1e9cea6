#include "core/text.h"

#include <cstdint>
#include <cstdio>

namespace tandem::core {

namespace {
// Length of the well-formed UTF-8 sequence at s[i], or 0.
size_t utf8_len(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}
}  // namespace

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string check_id(std::string_view s, size_t max_bytes, std::string_view what) {
  if (s.size() > max_bytes)
    return std::string(what) + " " + quote(s) + " is longer than " + std::to_string(max_bytes) + " bytes";
  if (!valid_utf8(s)) return std::string(what) + " " + quote(s) + " is not valid UTF-8";
  for (char c : s)
    if (static_cast<uint8_t>(c) < 0x20 || c == 0x7f)
      return std::string(what) + " " + quote(s) + " contains a control character";
  return {};
}

std::string quote(std::string_view s) {
  std::string out = "'";
  size_t i = 0;
  while (i < s.size() && out.size() < kQuotedChars + 1) {
    const size_t n = utf8_len(s, i);
    const auto c = static_cast<uint8_t>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (i < s.size()) out += "...";
  return out + "'";
}

}  // namespace tandem::core
