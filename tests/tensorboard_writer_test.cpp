// TensorBoard event files (policy_server/tensorboard_writer.h): CRC32C against known vectors,
// and a file written by ResultsWriter decoded back here (record framing, both CRCs, the Event
// and Summary fields) and compared with the rows written.
#include "policy_server/tensorboard_writer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <unistd.h>
#include <string>
#include <vector>

#include "policy_server/results_writer.h"

using nlohmann::json;
using namespace tandem::server;

namespace {

uint64_t read_varint(const std::string& s, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0; i < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[i++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  FAIL("truncated varint");
  return 0;
}

template <typename T>
T read_le(const std::string& s, size_t i) {
  REQUIRE(i + sizeof(T) <= s.size());
  uint64_t v = 0;
  for (size_t k = 0; k < sizeof(T); ++k) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[i + k])) << (8 * k);
  return static_cast<T>(v);
}

// Splits a file's bytes into record payloads, checking both CRCs of every record.
std::vector<std::string> records(const std::string& bytes) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < bytes.size()) {
    REQUIRE(i + 12 <= bytes.size());
    const auto len = read_le<uint64_t>(bytes, i);
    CHECK(read_le<uint32_t>(bytes, i + 8) == masked_crc32c(bytes.data() + i, 8));
    REQUIRE(i + 12 + len + 4 <= bytes.size());
    std::string data = bytes.substr(i + 12, len);
    CHECK(read_le<uint32_t>(bytes, i + 12 + len) == masked_crc32c(data.data(), data.size()));
    out.push_back(std::move(data));
    i += 12 + len + 4;
  }
  return out;
}

struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::map<std::string, float> values;
};

// Fields of a message: (field, wire type, varint value or fixed bits, bytes).
struct Field {
  uint32_t number, wire;
  uint64_t num = 0;
  std::string bytes;
};
std::vector<Field> fields(const std::string& m) {
  std::vector<Field> out;
  size_t i = 0;
  while (i < m.size()) {
    const uint64_t key = read_varint(m, i);
    Field f{static_cast<uint32_t>(key >> 3), static_cast<uint32_t>(key & 7), 0, {}};
    if (f.wire == 0) {
      f.num = read_varint(m, i);
    } else if (f.wire == 1) {
      f.num = read_le<uint64_t>(m, i);
      i += 8;
    } else if (f.wire == 5) {
      f.num = read_le<uint32_t>(m, i);
      i += 4;
    } else if (f.wire == 2) {
      const uint64_t n = read_varint(m, i);
      REQUIRE(i + n <= m.size());
      f.bytes = m.substr(i, n);
      i += n;
    } else {
      FAIL("unexpected wire type " << f.wire);
    }
    out.push_back(f);
  }
  return out;
}

Event decode_event(const std::string& data) {
  Event e;
  for (const auto& f : fields(data)) {
    if (f.number == 1 && f.wire == 1) std::memcpy(&e.wall_time, &f.num, 8);
    else if (f.number == 2 && f.wire == 0) e.step = static_cast<int64_t>(f.num);
    else if (f.number == 3 && f.wire == 2) e.file_version = f.bytes;
    else if (f.number == 5 && f.wire == 2) {
      for (const auto& v : fields(f.bytes)) {
        REQUIRE(v.number == 1);
        std::string tag;
        float x = NAN;
        for (const auto& vf : fields(v.bytes)) {
          if (vf.number == 1) tag = vf.bytes;
          if (vf.number == 2 && vf.wire == 5) {
            const auto bits = static_cast<uint32_t>(vf.num);
            std::memcpy(&x, &bits, 4);
          }
        }
        e.values[tag] = x;
      }
    } else {
      FAIL("unexpected Event field " << f.number);
    }
  }
  return e;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("crc32c matches the Castagnoli check values") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  const std::string zeros(32, '\0');
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);  // RFC 3720 B.4
  CHECK(crc32c("", 0) == 0u);
}

TEST_CASE("a record frames its data with masked CRCs") {
  const std::string r = tfrecord("abc");
  REQUIRE(r.size() == 8 + 4 + 3 + 4);
  CHECK(read_le<uint64_t>(r, 0) == 3u);
  const uint32_t c = crc32c("abc", 3);
  CHECK(read_le<uint32_t>(r, 15) == ((c >> 15) | (c << 17)) + 0xa282ead8u);
  CHECK(records(r) == std::vector<std::string>{"abc"});
}

TEST_CASE("result_scalars flattens numbers and skips the rest") {
  const json row = {{"episode_reward_mean", 1.5}, {"algorithm", "ppo"}, {"done", true},
                    {"hist", {1, 2}}, {"nan", NAN},
                    {"info", {{"learner", {{"p1", {{"entropy", 0.25}}}}}}}};
  const auto s = result_scalars(row);
  std::map<std::string, double> m;
  for (const auto& x : s) m[x.tag] = x.value;
  CHECK(m.size() == 2);
  CHECK(m["ray/tune/episode_reward_mean"] == 1.5);
  CHECK(m["ray/tune/info/learner/p1/entropy"] == 0.25);
}

TEST_CASE("ResultsWriter writes an event file that decodes to its rows") {
  const auto dir = std::filesystem::temp_directory_path() / ("tb_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<json> rows;
  std::string path;
  {
    ResultsWriter w(dir.string());
    path = w.events_path();
    REQUIRE(!path.empty());
    for (int i = 1; i <= 3; ++i) {
      json row = {{"training_iteration", i}, {"timesteps_total", 1000 * i},
                  {"episode_reward_mean", -3.25 + i}, {"algorithm", "ppo"},
                  {"policy_reward_mean", {{"p1", 0.5 * i}}},
                  {"info", {{"learner", {{"p1", {{"entropy", 1.0 / i}}}}}}}};
      w.write(row);
      rows.push_back(row);
    }
  }
  CHECK(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0) == 0);
  const auto recs = records(read_all(path));
  REQUIRE(recs.size() == 4);
  const Event first = decode_event(recs[0]);
  CHECK(first.file_version == "brain.Event:2");
  CHECK(first.wall_time > 1.6e9);
  for (size_t r = 0; r < rows.size(); ++r) {
    const Event e = decode_event(recs[r + 1]);
    CHECK(e.wall_time >= first.wall_time);
    CHECK(e.step == rows[r]["timesteps_total"].get<int64_t>());
    CHECK(e.values.size() == 5);
    CHECK(e.values.at("ray/tune/training_iteration") == static_cast<float>(r + 1));
    CHECK(e.values.at("ray/tune/episode_reward_mean") == static_cast<float>(rows[r]["episode_reward_mean"].get<double>()));
    CHECK(e.values.at("ray/tune/policy_reward_mean/p1") == static_cast<float>(0.5 * (r + 1)));
    CHECK(e.values.at("ray/tune/info/learner/p1/entropy") == static_cast<float>(1.0 / (r + 1)));
  }
  std::filesystem::remove_all(dir);
}
