#pragma once
// Encoding and verified decoding of Tandem frames (one WebSocket binary frame = one
// FlatBuffers Envelope). decode_frame() runs the FlatBuffers Verifier before anything
// reads a field; nothing else in the code base may call GetEnvelope() on raw bytes.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/tandem_generated.h"

namespace tandem::wire {

namespace fb = tandem::wire::fb;

inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kMaxFrameBytes = 8u << 20;      // frames above this are refused
inline constexpr size_t kWeightsChunkBytes = 4u << 20;  // weight blobs are split into chunks of this size

using Frame = std::vector<uint8_t>;

// ---- decoding ----
struct Decoded {
  const fb::Envelope* envelope = nullptr;  // null on failure
  fb::ErrorCode error = fb::ErrorCode::None;
  std::string message;                     // why it failed
  uint64_t request_id = 0;                 // best effort, for the Error reply
  explicit operator bool() const { return envelope != nullptr; }
};
// Verifies size, file identifier, FlatBuffers structure, protocol version and that a
// message is present. The envelope points into `bytes`, which must outlive its use.
Decoded decode_frame(std::span<const uint8_t> bytes);

// ---- encoding: views of what goes into a message ----
struct AgentObsView {
  std::string_view agent_id;
  std::span<const float> obs;
  std::span<const float> action_mask = {};
};
struct AgentActionView {
  std::string_view agent_id;
  std::span<const int64_t> discrete;
  std::span<const float> continuous = {};
};
struct AgentRewardView {
  std::string_view agent_id;
  float reward = 0.f;
  bool done = false;
};
struct MetricView {
  std::string_view name;
  double value = 0.0;
};
// One agent's consecutive steps (columnar; see table Fragment in tandem.fbs).
struct FragmentView {
  std::string_view agent_id;
  std::span<const float> obs;
  std::span<const int64_t> discrete;
  std::span<const float> continuous;
  std::span<const float> action_logp;
  std::span<const float> vf_preds;
  std::span<const float> dist_inputs;
  std::span<const float> rewards;
  bool terminated = false;
  float bootstrap_value = 0.f;
};

// Requests.
Frame encode_start_episode(uint64_t rid, std::string_view episode_id, bool training_enabled,
                           bool explore);
Frame encode_get_action(uint64_t rid, std::string_view episode_id,
                        std::span<const AgentObsView> agents);
Frame encode_log_action(uint64_t rid, std::string_view episode_id,
                        std::span<const AgentObsView> agents,
                        std::span<const AgentActionView> actions);
Frame encode_log_returns(uint64_t rid, std::string_view episode_id,
                         std::span<const AgentRewardView> rewards);
Frame encode_end_episode(uint64_t rid, std::string_view episode_id,
                         std::span<const AgentObsView> agents, bool truncated,
                         std::span<const MetricView> custom_metrics);
Frame encode_get_config(uint64_t rid);
Frame encode_get_weights(uint64_t rid, std::string_view policy_id, int64_t have_version);
struct ReportSamplesView {
  std::string_view episode_id;
  int64_t weights_version = 0;
  std::span<const FragmentView> fragments;
  int64_t env_steps = 0;
  bool training_enabled = true;
  bool explore = true;
  bool episode_done = false;
  double episode_reward = 0.0;
  int64_t episode_length = 0;
  std::span<const AgentRewardView> agent_rewards;
  std::span<const MetricView> custom_metrics;
};
Frame encode_report_samples(uint64_t rid, const ReportSamplesView& r);

// Replies.
Frame encode_episode_started(uint64_t rid, std::string_view episode_id);
Frame encode_actions(uint64_t rid, std::span<const AgentActionView> actions, int64_t policy_version);
Frame encode_ack(uint64_t rid);
Frame encode_config(uint64_t rid, std::string_view json);
Frame encode_weights(uint64_t rid, std::string_view policy_id, int64_t version, int32_t chunk_index,
                     int32_t num_chunks, std::span<const uint8_t> data);
Frame encode_error(uint64_t rid, fb::ErrorCode code, std::string_view message);
Frame encode_samples_accepted(uint64_t rid, std::span<const int64_t> policy_versions);

// Helpers for readers.
inline std::string_view view(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}
template <typename T>
std::span<const T> view(const flatbuffers::Vector<T>* v) {
  return v ? std::span<const T>(v->data(), v->size()) : std::span<const T>();
}
const char* error_code_name(fb::ErrorCode code);

}  // namespace tandem::wire
