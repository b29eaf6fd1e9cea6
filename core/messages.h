#pragma once
// Requests and replies as plain structs: what every codec (WebSocket + FlatBuffers today;
// HTTP JSON, Python, offline files later) decodes into and encodes from. The request
// handler, the episode core and the clients speak only these types; schemas/ is the only
// code that knows FlatBuffers. Names follow RLlib's PolicyClient commands.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"
#include "core/trajectory.h"

namespace tandem::core {

// An absent or empty agent id is RLlib's single agent.
inline constexpr const char* kDefaultAgentId = "agent0";

struct AgentObs {
  std::string agent_id;
  std::vector<float> obs;          // flat, row-major, as the observation space's raw_size()
  std::vector<float> action_mask;  // optional: 1 = allowed, 0 = masked (discrete actions)
};
struct AgentAction {
  std::string agent_id;
  std::vector<int64_t> discrete;   // Discrete: 1 value; MultiDiscrete: one per component
  std::vector<float> continuous;   // Box
};
struct AgentReward {
  std::string agent_id;
  float reward = 0.f;
  bool done = false;               // this agent's episode has ended (terminated)
};
struct Metric {
  std::string name;
  double value = 0.0;
};
// Local inference: one agent's consecutive steps as the client's model produced them
// (raw observations; the server validates and preprocesses them).
struct AgentFragment {
  std::string agent_id;
  Trajectory steps;
};

// ---- requests ----
struct StartEpisode {
  std::string episode_id;          // empty: the server generates one
  bool training_enabled = true;    // false: served and counted, never trained on
  bool explore = true;             // false: greedy actions (evaluation)
};
struct GetAction {
  std::string episode_id;
  std::vector<AgentObs> agents;
};
struct LogAction {
  std::string episode_id;
  std::vector<AgentObs> agents;
  std::vector<AgentAction> actions;  // one per agent, same order
};
struct LogReturns {
  std::string episode_id;
  std::vector<AgentReward> rewards;
};
struct EndEpisode {
  std::string episode_id;
  std::vector<AgentObs> agents;    // last observations (bootstrap when truncated)
  bool truncated = false;
  std::vector<Metric> custom_metrics;
};
struct GetConfig {};
struct GetWeights {
  std::string policy_id;
  int64_t have_version = -1;       // weights are sent only when newer than this
};
struct ReportSamples {
  std::string episode_id;
  int64_t weights_version = 0;     // the client's weights (first policy) when it was made
  std::vector<AgentFragment> fragments;
  int64_t env_steps = 0;           // env steps these fragments cover
  // Env steps of this episode in the client's earlier reports (0: the episode's first report).
  // The server checks an episode's totals only when it saw every report from the first on.
  int64_t env_steps_before = 0;
  bool training_enabled = true;
  bool explore = true;
  bool episode_done = false;       // the episode ended: the fields below describe it
  double episode_reward = 0.0;
  int64_t episode_length = 0;
  std::vector<AgentReward> agent_rewards;  // per agent return
  std::vector<Metric> custom_metrics;
};

// The requests about one episode: what a vectorised frame may carry.
using EpisodeRequest = std::variant<StartEpisode, GetAction, LogAction, LogReturns, EndEpisode>;
// Vectorised: the requests of many episodes in one frame (a simulator that steps N
// environments from one thread). The entries apply one by one, in order, exactly as the same
// requests sent singly would; an entry that fails gets its own Error and changes nothing,
// the others apply. The reply holds one reply per entry, in order. The frame is one request
// for the exactly-once ledger: a resend gets the whole original reply.
struct VectorRequest {
  std::vector<EpisodeRequest> entries;
};

using Request = std::variant<StartEpisode, GetAction, LogAction, LogReturns, EndEpisode,
                             GetConfig, GetWeights, ReportSamples, VectorRequest>;

// Stateless inference outside any episode (the HTTP JSON codec): one action per row of
// `observations` from the policy's newest weights; nothing is recorded or trained on.
// Answered with Actions (agent ids "0", "1", ... by row) or Error.
struct ComputeActions {
  std::string policy_id;
  std::vector<std::vector<float>> observations;  // raw, one row per observation
  std::vector<std::vector<float>> action_masks;  // empty, or one (possibly empty) per row
  bool explore = false;                          // false: the greedy action
};

// ---- replies ----
struct EpisodeStarted {
  std::string episode_id;
};
struct Actions {
  std::vector<AgentAction> actions;
  int64_t policy_version = 0;
};
struct Ack {};
struct Config {
  std::string json;                // the server's configuration (ServerConfig::to_json)
};
// Part of one named float32 tensor of a policy's weights (language neutral: any client can
// rebuild the model from these and GetConfig's "models" description, core/model_description.h).
// `shape` is the whole tensor's; `data` holds its row-major elements [offset, offset + size).
struct TensorPart {
  std::string name;             // e.g. "pi_hidden_0.weight" ([out, in]: y = x W^T + b)
  std::vector<int64_t> shape;
  int64_t offset = 0;
  std::vector<float> data;
  bool operator==(const TensorPart&) const = default;
};
// A policy's weights. The server replies with one Weights holding every tensor whole; the
// codec splits it into frames of at most kWeightsChunkBytes (chunk_index / num_chunks; a
// large tensor spans frames as parts), and the client puts them together again
// (core/weight_tensors.h). version -1 with no tensors: the client's version is current.
struct Weights {
  std::string policy_id;
  int64_t version = -1;
  int32_t chunk_index = 0;
  int32_t num_chunks = 1;
  std::vector<TensorPart> tensors;
};
// The steps were taken (or were a resend already taken); the newest weight version of every
// hosted policy (GetConfig's policy_order), so a local client fetches new weights at once.
struct SamplesAccepted {
  std::vector<int64_t> policy_versions;
};
struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

// What one entry of a VectorRequest gets: what the same request sent singly would.
using EpisodeReply = std::variant<EpisodeStarted, Actions, Ack, Error>;
struct VectorReply {
  std::vector<EpisodeReply> replies;  // one per entry, in order
};

using Reply = std::variant<EpisodeStarted, Actions, Ack, Config, Weights, SamplesAccepted, Error, VectorReply>;

// "GetAction", "Actions", ... (for logs and error messages).
const char* request_name(const Request& r);
const char* reply_name(const Reply& r);
// The episode a request is about ("" for GetConfig / GetWeights / VectorRequest).
const std::string& episode_of(const Request& r);
const std::string& episode_of(const EpisodeRequest& r);
Request to_request(EpisodeRequest r);
// An entry's reply as a VectorReply entry; a reply no entry can get becomes Internal.
EpisodeReply to_episode_reply(Reply r);
// Requests that change server state go through the exactly-once ledger; GetConfig and
// GetWeights are reads and are simply answered again.
bool is_mutating(const Request& r);

inline Reply error_reply(const Status& s) { return Error{s.code, s.message}; }

}  // namespace tandem::core
