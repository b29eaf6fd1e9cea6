#pragma once
// Hyperparameters, with RLlib's names and defaults. One struct serves PPO, A2C, MARWIL and CRR; each
// algorithm reads the fields it uses. Parsed from JSON; unknown keys and nonsense values
// are rejected with std::invalid_argument naming the key.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tandem::core {

struct ModelConfig {
  std::vector<int64_t> fcnet_hiddens{256, 256};  // hidden layer sizes of the MLP
  std::string fcnet_activation = "tanh";         // "tanh" | "relu" | "elu" | "linear"
  bool vf_share_layers = false;                  // value head on the policy trunk (true) or its own MLP
  bool free_log_std = true;                      // Box actions: state-independent log-std parameter
  // Weight init: "orthogonal" (CleanRL: hidden gain sqrt(2), policy head 0.01, value head 1)
  // | "normc" (RLlib's normc_initializer: 1.0, 0.01, 0.01). Biases 0.
  std::string init = "orthogonal";
};

struct AlgoConfig {
  // --- common ---
  double gamma = 0.99;                     // discount factor
  double lr = 5e-5;                        // learning rate
  std::vector<std::pair<int64_t, double>> lr_schedule;  // [[timestep, lr], ...] piecewise linear; empty = constant lr
  double lambda_ = 1.0;                    // GAE lambda (JSON key "lambda")
  bool use_gae = true;                     // GAE advantages; false = plain discounted returns minus value
  bool use_critic = true;                  // a value function is learned and used as baseline
  int64_t train_batch_size = 4000;         // env steps collected per training iteration
  int64_t rollout_fragment_length = 200;   // a trajectory is cut (and bootstrapped) after this many steps
  double vf_loss_coeff = 1.0;              // weight of the value loss
  double entropy_coeff = 0.0;              // weight of the entropy bonus
  double grad_clip = 0.0;                  // max global grad norm; 0 = no clipping
  bool normalize_advantages = false;       // standardise advantages per minibatch
  // --- untrusted input (docs/SECURITY.md) ---
  double max_abs_reward = 1e6;             // a reward beyond +-this is refused (BadRequest)
  double observation_clip = 1e4;           // Box observation elements clipped to +-this for the model (0 = off)
  // --- PPO ---
  double clip_param = 0.3;                 // surrogate clip epsilon
  double vf_clip_param = 10.0;             // value clipping range; 0 = no value clipping
  double kl_coeff = 0.2;                   // initial KL penalty coefficient; 0 = no KL term
  double kl_target = 0.01;                 // target KL for the adaptive coefficient
  int64_t sgd_minibatch_size = 128;        // minibatch size of the SGD epochs
  int64_t num_sgd_iter = 30;               // SGD epochs over each train batch
  // --- A2C ---
  std::string optimizer = "adam";          // "adam" | "rmsprop"
  double rmsprop_alpha = 0.99;             // RMSprop smoothing constant
  double optimizer_eps = 1e-5;             // Adam / RMSprop epsilon
  // --- MARWIL (Wang et al. 2018; RLlib's names and defaults) ---
  double beta = 1.0;                       // advantage weight exponent: weights exp(beta * A / sqrt(ma)); 0 = behaviour cloning
  double vf_coeff = 1.0;                   // weight of the value loss in MARWIL's total loss
  double bc_logstd_coeff = 0.0;            // Box actions: bonus on the mean log-std (keeps the policy stochastic)
  double moving_average_sqd_adv_norm_start = 100.0;      // initial moving average of the squared advantage
  double moving_average_sqd_adv_norm_update_rate = 1e-8; // its update rate (ma += rate * (mean(A^2) - ma))
  // --- CRR (Wang et al. 2020; RLlib's names and defaults; Box actions) ---
  std::string weight_type = "bin";         // "bin": 1[A > 0] | "exp": min(exp(A / temperature), max_weight)
  double temperature = 1.0;                // exp weights: A / temperature
  double max_weight = 20.0;                // exp weights are clipped to this
  std::string advantage_type = "mean";     // V(s) from n_action_sample actions of pi: "mean" | "max" of Q(s, a_j)
  int64_t n_action_sample = 4;             // actions sampled from pi per state for V(s)
  bool twin_q = true;                      // two Q networks, targets from their minimum
  double tau = 5e-3;                       // soft update of the target networks, every iteration
  double critic_lr = 3e-4;                 // learning rate of the Q networks (the actor's: lr)
  // --- model ---
  ModelConfig model;

  // Applies the keys of `j` on top of this config (overrides), validating every value.
  // Throws std::invalid_argument("unknown key 'x'" / "'lr' must be > 0, got -1") on bad input.
  void merge_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  // Learning rate at `timesteps` (lr_schedule interpolated, else lr).
  double lr_at(int64_t timesteps) const;
};

}  // namespace tandem::core
