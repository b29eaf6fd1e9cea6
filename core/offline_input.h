#pragma once
// The files of a server's `input` (docs/OFFLINE.md) read into offline batches: a file, a
// directory or a glob of JSON lines in RLlib's SampleBatch layout (core/offline_json.h).
// Torch-free, network-free.
#include <cstdint>
#include <string>
#include <vector>

#include "core/offline_json.h"

namespace tandem::core {

// The files behind an `input` PATH: the file itself; a directory's *.json and *.jsonl files;
// or a glob pattern's matches (sorted). BadRequest when there are none.
Status offline_input_files(const std::string& path, std::vector<std::string>& files);

struct OfflineData {
  std::vector<OfflineBatch> batches;  // every non-empty line of every file, in order
  int64_t rows = 0;                   // sum of their counts
  std::vector<std::string> files;
  // Files whose last line was cut off (no newline, not valid: a writer killed mid-line);
  // that line is skipped, the rest read.
  std::vector<std::string> cut_off_last_lines;
};
// Reads every line of every file of `path` (offline_input_files) whose policy_id is
// `policy_id` or empty. A bad line stops the read: BadRequest naming the file and line number
// (a file's cut-off last line is skipped instead and named in cut_off_last_lines).
Status read_offline_input(const std::string& path, const std::string& policy_id, const Space& obs_space,
                          const Space& action_space, OfflineData& out);

}  // namespace tandem::core
