#pragma once
// The input format of request_fuzz, shared with make_seeds (the seed corpus generator).
//
//   input  = record (kSeparator record)*       only the first kMaxRecords records are served
//   record = control byte, then one request frame (wire::encode_request bytes, or garbage)
//
// Several records in one input make a sequence (StartEpisode, GetAction, ..., EndEpisode)
// that reproduces from that input alone. State also carries over between inputs (the same
// client keys, the ledger, the episode book) until the context is rebuilt every
// kRebuildEvery inputs (TANDEM_FUZZ_REBUILD_EVERY overrides it; 1 = every input alone).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tandem::fuzz {

inline constexpr std::string_view kSeparator = "#FZ#";
inline constexpr size_t kMaxRecords = 32;
inline constexpr uint64_t kRebuildEvery = 2000;

// Control byte bits.
inline constexpr uint8_t kClientMask = 0x03;  // 0, 1: client "fz-a" (most inputs share it), 2: "fz-b",
                                              // 3: an anonymous connection, one per input, closed after it
inline constexpr uint8_t kResend = 0x04;      // the frame is handled twice: the second is a resend
inline constexpr uint8_t kOwnId = 0x08;       // keep the frame's request id (else: the client's next id)
inline constexpr uint8_t kSweep = 0x10;       // afterwards every open episode times out (idle sweep)

// The server the fuzzer talks to: CartPole-like Box(4) -> Discrete(2) for most agents, a
// Box -> Box policy for agent "arm", and a frozen Discrete -> MultiDiscrete one for "pick"
// (action masks). Short fragments so that fragment cuts happen within a few steps.
inline constexpr const char* kServerConfig = R"({
  "algorithm": "ppo", "host": "127.0.0.1", "port": 0, "seed": 11,
  "results_dir": "fuzz_results_unused",
  "max_open_episodes": 64, "max_episodes_per_client": 16,
  "sample_backpressure": false,
  "config": {"rollout_fragment_length": 4, "train_batch_size": 16, "sgd_minibatch_size": 8,
             "num_sgd_iter": 1, "model": {"fcnet_hiddens": [8]}},
  "policies": {
    "cart": {"observation_space": {"type": "box", "shape": [4], "low": -5, "high": 5},
             "action_space": {"type": "discrete", "n": 2}},
    "arm":  {"observation_space": {"type": "box", "shape": [3]},
             "action_space": {"type": "box", "shape": [2], "low": -1, "high": 1}},
    "pick": {"observation_space": {"type": "discrete", "n": 5},
             "action_space": {"type": "multi_discrete", "nvec": [3, 2]}}
  },
  "policy_mapping": {"arm": "arm", "pick": "pick", "*": "cart"},
  "policies_to_train": ["cart", "arm"]
})";

}  // namespace tandem::fuzz
