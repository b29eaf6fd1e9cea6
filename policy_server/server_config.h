#pragma once
// tandem-server configuration: a JSON file, overridable by command-line flags.
//
// {
//   "algorithm": "ppo", "host": "127.0.0.1", "port": 9900, "seed": 0,
//   "results_dir": "results/cartpole_ppo",
//   "config": { "lr": 3e-4, "train_batch_size": 4000, "model": {"fcnet_hiddens": [64, 64]} },
//   "policies": { "default_policy": { "observation_space": {...}, "action_space": {...},
//                                     "config": { per-policy overrides } } },
//   "policy_mapping": { "agent1": "policy1", "*_low": "low_policy", "*": "default_policy" },
//                     (exact ids first, then glob patterns in the written order: core/policy_mapping.h)
//   "stop": { "training_iteration": 100, "timesteps_total": 100000, "episode_reward_mean": 475 },
//   "input": "data/*.jsonl", "input_config": {"shuffle": true}     (offline training: docs/OFFLINE.md)
// }
// Unknown keys and invalid values are rejected with std::invalid_argument naming the key.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "algorithms/replica_group.h"
#include "core/league.h"
#include "core/policy_set.h"
#include "policy_server/experience_output.h"

namespace tandem::server {

struct StopCriteria {
  int64_t training_iteration = 0;               // 0 = no limit
  int64_t timesteps_total = 0;                  // 0 = no limit
  std::optional<double> episode_reward_mean;    // stop once the smoothed mean reaches this
};

struct ServerConfig {
  std::string algorithm = "ppo";                // registry name: "ppo", "a2c"
  std::string host = "127.0.0.1";               // address to listen on
  uint16_t port = 9900;                         // 0 picks a free port
  uint64_t seed = 0;                            // seeds models, sampling and shuffling
  std::string results_dir = "results/run";      // result.json, progress.csv, checkpoints
  core::AlgoConfig config;                      // hyperparameters shared by all policies
  std::vector<core::PolicySpec> policies;       // hosted policies (config merged with overrides)
  core::PolicyMapping policy_mapping;           // agent id or glob pattern -> policy id
  // Policies the learner trains (RLlib's policies_to_train); empty = all. The others are
  // served with their initial (or restored) weights and never trained: frozen opponents.
  std::vector<std::string> policies_to_train;
  StopCriteria stop;
  int io_threads = 1;                           // network threads (1 keeps a core for the learner)
  int64_t max_open_episodes = 10000;            // StartEpisode beyond this gets TooManyEpisodes
  double episode_timeout_s = 600.0;             // an episode idle this long is dropped (logged)
  int64_t metrics_num_episodes_for_smoothing = 100;  // episodes in the reward/length means
  int64_t checkpoint_frequency = 0;             // checkpoint every N iterations (0 = never)
  bool checkpoint_at_end = true;                // checkpoint when the server stops after training
  int64_t keep_checkpoints_num = 0;             // keep only the newest N checkpoints (0 = all)
  std::string restore;                          // checkpoint folder to restore at start (--restore)
  bool sample_backpressure = true;              // serving waits for the learner (SampleQueue::must_wait)
  // While the learner trains a policy, serving collects at most this many training steps of
  // it (-1: its train_batch_size, one batch ahead; 0: none, serving pauses while it trains).
  int64_t sample_ahead_steps = -1;
  bool train = true;                            // false: serve only (--no-train)
  double report_interval_s = 10.0;              // --no-train: a result row this often (if episodes ended)
  std::string log_level = "info";               // spdlog level
  // Experience output (policy_server/experience_output.h): "output" DIR ("" = none),
  // "output_config": {"what": "batches"|"episodes"|"fragments", "max_queued_rows",
  // "max_queued_bytes", "max_episode_rows"}, "output_max_file_size": bytes (RLlib's name).
  OutputConfig output;
  // Offline training (docs/OFFLINE.md): a JSON lines file, a directory of *.json / *.jsonl, or
  // a glob, in RLlib's SampleBatch layout. Set, the learner trains from these rows (an
  // algorithm that trains offline: marwil) instead of the simulators' experience.
  std::string input;
  bool input_shuffle = true;                    // input_config.shuffle: episodes drawn in a seeded random order
  std::string static_dir;                       // files served under /play/ (the browser page); "" = none
  // --- untrusted clients (docs/SECURITY.md) ---
  std::string auth_token_file;                  // clients must send "Authorization: Bearer <its content>"
  std::string auth_token;                       // read from auth_token_file; never written out
  bool insecure_listen_any = false;             // allow a non-loopback host without a token
  // TLS (both or neither): PEM certificate chain and unencrypted private key. Set, the port
  // serves only wss:// and https:// (TLS 1.2+); checked (loaded) when the config is parsed.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::map<std::string, std::string> http_inference_paths;  // POST path -> policy id (single-observation JSON)
  double idle_timeout_s = 300.0;                // a WebSocket with no frame from its client this long is closed
  int64_t max_episodes_per_client = 1000;       // open episodes one client may hold (max_open_episodes stays)
  // The self-play league (core/league.h): its slot policies ("<main>_slot1".."K", copies of
  // the main policy's spec, never trained) are appended to `policies`; policies_to_train
  // defaults to the main policy. to_json writes the league, not its slots.
  std::optional<core::LeagueConfig> league;
  // A replica group (policy_server/replica_setup.h): group_rank, group_size, group_master...
  algo::GroupConfig group;

  int policy_index(const std::string& policy_id) const;
  bool is_league_slot(const std::string& policy_id) const;
  bool is_trained(const std::string& policy_id) const;
  core::PolicySet policy_set() const;  // a copy of policies + policy_mapping
  nlohmann::json to_json() const;
};

// Parses and validates (reads auth_token_file, loads tls_cert_file / tls_key_file). A host other than loopback needs a token
// or insecure_listen_any.
ServerConfig parse_server_config(const nlohmann::json& j);
// The config file as JSON (comments allowed); an object "policy_mapping" is turned into its
// list form in the written order (core/policy_mapping.h). Throws std::invalid_argument.
nlohmann::json read_config_file(const std::string& path);
ServerConfig load_server_config(const std::string& path);  // parse_server_config(read_config_file(path))

}  // namespace tandem::server
