#include "policy_server/tensorboard_writer.h"

#include "policy_server/result_row.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tandem::server {
namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

template <typename T>
void put_le(std::string& out, T v) {  // fixed-width little-endian
  for (size_t i = 0; i < sizeof(T); ++i) out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
}

void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (field << 3) | wire); }

void put_bytes(std::string& out, uint32_t field, const std::string& s) {
  put_tag(out, field, 2);
  put_varint(out, s.size());
  out += s;
}

void put_double(std::string& out, uint32_t field, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  put_tag(out, field, 1);
  put_le(out, bits);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  static const auto table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& data) {
  std::string out, len;
  put_le(len, static_cast<uint64_t>(data.size()));
  out += len;
  put_le(out, masked_crc32c(len.data(), len.size()));
  out += data;
  put_le(out, masked_crc32c(data.data(), data.size()));
  return out;
}

Scalars result_scalars(const nlohmann::json& row, const std::string& prefix) {
  Scalars out;
  const nlohmann::json flat = flatten_result_row(row);  // named: items() refers to it
  for (const auto& [key, v] : flat.items())
    if (v.is_number() && std::isfinite(v.get<double>()))  // not booleans, strings, arrays, NaN
      out.push_back({prefix + key, v.get<double>()});
  return out;
}

std::string encode_file_version_event(double wall_time) {
  std::string e;
  put_double(e, 1, wall_time);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string encode_summary_event(double wall_time, int64_t step, const Scalars& scalars) {
  std::string summary;
  for (const auto& scalar : scalars) {
    std::string value;
    put_bytes(value, 1, scalar.tag);
    put_tag(value, 2, 5);
    const float f = static_cast<float>(scalar.value);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    put_le(value, bits);
    put_bytes(summary, 1, value);
  }
  std::string e;
  put_double(e, 1, wall_time);
  put_tag(e, 2, 0);
  put_varint(e, static_cast<uint64_t>(step));  // int64: negative as 10-byte two's complement
  put_bytes(e, 5, summary);
  return e;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::strcpy(host, "localhost");
  const auto secs = static_cast<int64_t>(now_s());
  path_ = dir + "/events.out.tfevents." + std::to_string(secs) + "." + host;
  std::error_code ec;
  // A restart in the same second: another file (TensorBoard reads every tfevents file).
  if (std::filesystem::exists(path_, ec)) path_ += "." + std::to_string(getpid());
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (out_) out_ << tfrecord(encode_file_version_event(now_s()));
  out_.flush();
  if (!out_) throw std::runtime_error("cannot write TensorBoard events to '" + path_ + "'");
}

bool TensorBoardWriter::write(const nlohmann::json& row) {
  int64_t step = 0;
  if (row.contains("timesteps_total") && row["timesteps_total"].is_number())
    step = row["timesteps_total"].get<int64_t>();
  else if (row.contains("training_iteration") && row["training_iteration"].is_number())
    step = row["training_iteration"].get<int64_t>();
  out_ << tfrecord(encode_summary_event(now_s(), step, result_scalars(row)));
  out_.flush();
  return static_cast<bool>(out_);
}

}  // namespace tandem::server
