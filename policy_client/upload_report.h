#pragma once
// Local inference: the experience a client uploads, before it is encoded.
//
// LocalFragment is one agent's consecutive steps as the client's model produced them
// (raw observations; the server validates and preprocesses them). UploadReport is one
// ReportSamples request: the fragments one client call completed, plus the episode's summary
// when it ended. split_to_frame_limit() cuts a report that would not fit in one frame.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "schemas/codec.h"

namespace tandem::client {

struct LocalFragment {
  std::string agent_id;
  std::vector<float> obs;           // T * raw observation size
  std::vector<int64_t> discrete;    // T * discrete width
  std::vector<float> continuous;    // T * continuous width
  std::vector<float> action_logp;   // T
  std::vector<float> vf_preds;      // T
  std::vector<float> dist_inputs;   // T * dist width
  std::vector<float> rewards;       // T
  bool terminated = false;
  float bootstrap_value = 0.f;
  int64_t size() const { return static_cast<int64_t>(rewards.size()); }
  size_t bytes() const;             // payload size on the wire (approximate, from above)
  // Moves steps [from, size()) into a new fragment; this one keeps [0, from) and is
  // bootstrapped from the first moved step's value (no longer terminated).
  LocalFragment split_off(int64_t from);
};

struct UploadReport {
  std::string episode_id;
  int64_t weights_version = 0;
  std::vector<LocalFragment> fragments;
  int64_t env_steps = 0;
  bool training_enabled = true, explore = true;
  bool episode_done = false;
  double episode_reward = 0;
  int64_t episode_length = 0;
  std::vector<std::pair<std::string, float>> agent_rewards;
  std::vector<std::pair<std::string, double>> custom_metrics;

  int64_t steps() const;  // agent steps in the fragments
  wire::Frame encode(uint64_t rid) const;
};

// Splits `r` into reports whose payload stays under `max_bytes`: fragments are spread over
// several reports, and a single fragment that is too large is cut into consecutive pieces
// (each bootstrapped from the next piece's first value). env_steps go with the first piece,
// the episode summary with the last one.
std::vector<UploadReport> split_to_frame_limit(UploadReport r, size_t max_bytes);

}  // namespace tandem::client
