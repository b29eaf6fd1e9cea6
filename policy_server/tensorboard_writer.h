#pragma once
// TensorBoard event files, written without TensorFlow: events.out.tfevents.<unix seconds>.<host>
// beside result.json, one scalar per numeric result key over timesteps_total, tagged like
// RLlib's Tune logger: "ray/tune/" + the key flattened with '/' (ray/tune/episode_reward_mean,
// ray/tune/info/learner/policy1/entropy, ray/tune/policy_reward_mean/policy1).
//
// Record format (TFRecord), every integer little-endian:
//   uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
//   masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8, c = CRC32C (Castagnoli) of x
// data is a tensorflow.Event protobuf, encoded here by hand:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// The first record is Event{wall_time, file_version: "brain.Event:2"}; then one Event per
// result row {wall_time, step = timesteps_total (training_iteration if absent), summary}.
// Numbers only: strings, booleans, arrays and non-finite values (NaN, +-inf: null in
// result.json) are skipped, as Tune's logger skips NaN. Values are stored as float (32 bits).
// Each row is flushed. Not thread-safe: ResultsWriter owns it; the learner thread writes
// (constructed with the Learner, on the thread that starts the server).
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::server {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);  // CRC32C, reflected 0x82F63B78
uint32_t masked_crc32c(const void* data, size_t n);
std::string tfrecord(const std::string& data);  // the framed record of `data`

struct Scalar {
  std::string tag;
  double value = 0;
};
using Scalars = std::vector<Scalar>;  // in the flattened row's (sorted) key order
// The finite numbers of a result row, keys flattened with '/' and prefixed (default "ray/tune/").
Scalars result_scalars(const nlohmann::json& row, const std::string& prefix = "ray/tune/");
std::string encode_file_version_event(double wall_time);
std::string encode_summary_event(double wall_time, int64_t step, const Scalars& scalars);

class TensorBoardWriter {
 public:
  // Opens dir/events.out.tfevents.<now>.<hostname> and writes the file_version record.
  // Throws std::runtime_error if it cannot.
  explicit TensorBoardWriter(const std::string& dir);
  // One Event for the row; false if the write failed.
  bool write(const nlohmann::json& row);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace tandem::server
