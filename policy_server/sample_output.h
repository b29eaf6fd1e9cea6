#pragma once
// Optional experience output (config key "output": DIR), like RLlib's `output`: every
// fragment handed to the learner is appended as one JSON line to DIR/samples.jsonl
//   {"episode_id", "agent_id", "policy_id", "obs": [[...] x T], "actions", "actions_cont",
//    "action_logp", "vf_preds", "rewards", "terminated", "bootstrap_value"}
// (observations preprocessed, as the learner sees them). Readable with pandas.read_json(
// lines=True). Thread-safe; each line is flushed when written.
#include <fstream>
#include <mutex>
#include <string>

#include "core/trajectory.h"

namespace tandem::server {

struct FragmentOrigin {
  std::string episode_id;
  std::string agent_id;
};

class SampleOutput {
 public:
  explicit SampleOutput(const std::string& dir);  // creates DIR; throws when it cannot
  void write(const std::string& policy_id, const FragmentOrigin& origin, const core::Trajectory& t);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mu_;
  std::ofstream out_;
};

}  // namespace tandem::server
