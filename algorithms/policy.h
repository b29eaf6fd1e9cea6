#pragma once
// The torch-free face of a policy, as the server and the client use it.
//
//   Algorithm (one per hosted policy, owned by the server's learner thread)
//     train(SampleBatch) -> TrainStats          runs SGD on its own model
//     train_offline(core::OfflineBatch)         the same from logged rows (MARWIL; `input`)
//     snapshot()        -> shared_ptr<const InferenceModel>  immutable, versioned copy
//   InferenceModel (immutable; any thread may call it concurrently)
//     compute_actions(batch of preprocessed obs) -> actions, logp, vf_preds, dist_inputs
//
// LibTorch lives behind these interfaces (algorithms/torch/), so code that includes this
// header compiles fast.
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/action_logp.h"
#include "core/algo_config.h"
#include "core/offline_json.h"
#include "core/policy_spec.h"
#include "algorithms/sample_batch.h"
#include "core/spaces.h"
#include "core/weight_tensors.h"

namespace tandem::algo {

class ReplicaGroup;  // algorithms/replica_group.h

// The torch-free vocabulary algorithms/ shares with the rest of Tandem (core/).
using core::ActionResult;
using core::AlgoConfig;
using core::ModelConfig;
using core::PolicySpec;
using core::Space;
using core::SpaceKind;
using core::action_logp;
using core::continuous_action_width;
using core::discrete_action_width;
using core::dist_dim;
using core::validate_action;

// Named statistics from one training call ("policy_loss", "vf_loss", "entropy", "kl",
// "cur_lr", "cur_kl_coeff", "total_loss", "grad_gnorm", ...).
using TrainStats = std::map<std::string, double>;

class InferenceModel {
 public:
  virtual ~InferenceModel() = default;
  virtual int64_t version() const = 0;
  // obs: batch * obs_dim preprocessed floats. masks: empty, or batch * num_logits floats
  // (1 = allowed, 0 = masked; Discrete/MultiDiscrete only). explore[i] != 0: sample;
  // else the greedy action (mode); an empty explore samples every row. Fills out[0..batch).
  // Masked logits appear as kMaskedLogit in dist_inputs (a row with every action masked
  // samples uniformly). Throws std::invalid_argument on wrong sizes. Thread-safe.
  virtual void compute_actions(std::span<const float> obs, int64_t batch,
                               std::span<const float> masks, std::span<const uint8_t> explore,
                               std::mt19937_64& rng, std::vector<ActionResult>& out) const = 0;
  // Value estimates of batch observations (used to bootstrap truncated trajectories).
  virtual void compute_values(std::span<const float> obs, int64_t batch,
                              std::vector<float>& out) const = 0;
  // The weights as named float32 tensors (core::model_tensors(spec) order and shapes): what
  // GetWeights sends, language neutral. Made once per snapshot; cheap afterwards.
  virtual std::shared_ptr<const core::WeightTensors> weights() const = 0;
  // The weights as a LibTorch archive (checkpoints of frozen policies only).
  virtual std::string serialize_weights() const = 0;
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual const std::string& name() const = 0;  // "ppo", "a2c"
  virtual const PolicySpec& spec() const = 0;
  // One training iteration on a postprocessed batch. `timesteps_total` drives lr_schedule.
  virtual TrainStats train(const SampleBatch& batch, int64_t timesteps_total) = 0;
  // Offline training (config `input`, docs/OFFLINE.md): one iteration on logged rows in
  // RLlib's SampleBatch layout, whole episodes or pieces of them concatenated (an episode's
  // rows contiguous; algo::offline_segments finds the pieces). The algorithm computes what
  // it needs from rewards / dones / new_obs itself (MARWIL: discounted returns bootstrapped
  // with its own V). A virtual with a refusing default on this interface rather than a
  // second interface: the server holds one Algorithm per policy, asks trains_offline() once
  // at start-up, and PPO / A2C need no code for it. Throws std::invalid_argument when rows
  // do not fit the policy's spaces.
  // Data-parallel training in a replica group (algorithms/replica_group.h; null: alone). From
  // then on every train() call is a collective: every rank calls it for the same policies in
  // the same order, each with its own batch (possibly empty), and every SGD step averages the
  // gradients over the group, weighted by rows, so the weights stay bit-identical.
  // `timesteps_total` must then be the group's. Before the first train(); the group outlives
  // the algorithm's use of it. PPO and A2C do this; the others refuse (std::invalid_argument).
  virtual void join_group(ReplicaGroup* /*group*/) {
    throw std::invalid_argument("algorithm '" + name() + "' cannot train in a replica group (ppo and a2c can)");
  }
  virtual bool trains_offline() const { return false; }
  virtual TrainStats train_offline(const core::OfflineBatch& /*rows*/, int64_t /*timesteps_total*/) {
    throw std::logic_error("algorithm '" + name() + "' does not train from offline data");
  }
  // What the guard against poisoned data found in the last train() calls (a batch skipped,
  // a step rolled back: TrainStats counts them as num_bad_batches_skipped and
  // num_bad_sgd_steps_skipped), for the log. Clears the list.
  virtual std::vector<std::string> take_problems() { return {}; }
  // The newest published weights. Cheap; never blocks on training.
  virtual std::shared_ptr<const InferenceModel> snapshot() const = 0;
  // Full state (model, optimizer, algorithm state such as PPO's kl_coeff) to/from a file.
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;
};

// Registry by name. Throws std::invalid_argument for an unknown name (message lists the known ones).
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const PolicySpec& spec,
                                          uint64_t seed);
std::vector<std::string> algorithm_names();

// An InferenceModel built from a spec and a serialize_weights() archive (checkpoints).
std::shared_ptr<const InferenceModel> load_inference_model(const PolicySpec& spec,
                                                           const std::string& blob,
                                                           int64_t version);
// An InferenceModel built from a spec and named tensors (GetWeights: local inference). Throws
// std::invalid_argument naming a missing, extra or misshapen tensor.
std::shared_ptr<const InferenceModel> load_inference_model(const PolicySpec& spec,
                                                           const core::WeightTensors& tensors,
                                                           int64_t version);

// Sets LibTorch's intra-op thread count (torch::set_num_threads) from torch-free code.
void set_torch_num_threads(int n);

}  // namespace tandem::algo

#include <functional>

#include "core/messages.h"
#include "core/policy_set.h"

namespace tandem::algo {

// EndEpisode(truncated): V(last observation) of every listed agent that sent one, from the
// model of its policy (`policy_of_agent` as EpisodeCore::check_end filled it). The server
// and the local client bootstrap truncated episodes with this.
std::map<std::string, float> truncation_values(
    const core::PolicyResolver& policies, const std::vector<core::AgentObs>& agents,
    const std::vector<int>& policy_of_agent,
    const std::function<std::shared_ptr<const InferenceModel>(int)>& model_of);

}  // namespace tandem::algo
