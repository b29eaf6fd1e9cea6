#include "algorithms/torch/torch_algorithm.h"

#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "algorithms/torch/inference_model.h"
#include "algorithms/torch/train_guard.h"

namespace tandem::algo {
namespace {

// 2: optimizer state of the flat parameters (one tensor); 1 (per parameter tensor) loads too.
constexpr int64_t kCheckpointFormat = 2;

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const AlgoConfig& c, const FlatParameters& flat) {
  if (c.optimizer == "rmsprop")
    return std::make_unique<torch::optim::RMSprop>(
        flat.list(), torch::optim::RMSpropOptions(c.lr).alpha(c.rmsprop_alpha).eps(c.optimizer_eps));
  return std::make_unique<torch::optim::Adam>(flat.list(), torch::optim::AdamOptions(c.lr).eps(c.optimizer_eps));
}

torch::Tensor string_tensor(const std::string& s) {
  auto t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
  std::copy(s.begin(), s.end(), t.data_ptr<uint8_t>());
  return t;
}

std::string tensor_string(const torch::Tensor& t) {
  auto c = t.contiguous();
  const auto* p = c.data_ptr<uint8_t>();
  return std::string(p, p + c.numel());
}

// The part of a spec a checkpoint must agree with to be loadable.
nlohmann::json architecture_json(const PolicySpec& s) {
  return {{"observation_space", s.observation_space.to_json()},
          {"action_space", s.action_space.to_json()},
          {"model", s.config.to_json()["model"]}};
}

// Optimizer state, written deterministically by parameter position. (torch's own
// Optimizer::save keys the state by TensorImpl addresses, so two saves of equal states
// differ byte-wise.) Param-group options are not saved: they derive from the config, and
// train() sets the lr every call.
std::string state_key(const torch::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

void write_if_defined(torch::serialize::OutputArchive& ar, const std::string& key,
                      const torch::Tensor& t) {
  if (t.defined()) ar.write(key, t);
}

torch::Tensor read_optional(torch::serialize::InputArchive& ar, const std::string& key) {
  torch::Tensor t;
  return ar.try_read(key, t) ? t : torch::Tensor();
}

void save_optimizer_state(const torch::optim::Optimizer& opt, const std::string& kind,
                          const std::vector<torch::Tensor>& params,
                          torch::serialize::OutputArchive& ar) {
  ar.write("kind", string_tensor(kind));
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = opt.state().find(state_key(params[i]));
    if (it == opt.state().end()) continue;  // no step taken yet
    const std::string pre = "param" + std::to_string(i) + "/";
    if (const auto* a = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get())) {
      ar.write(pre + "step", torch::tensor(a->step()));
      write_if_defined(ar, pre + "exp_avg", a->exp_avg());
      write_if_defined(ar, pre + "exp_avg_sq", a->exp_avg_sq());
      write_if_defined(ar, pre + "max_exp_avg_sq", a->max_exp_avg_sq());
    } else if (const auto* r =
                   dynamic_cast<const torch::optim::RMSpropParamState*>(it->second.get())) {
      ar.write(pre + "step", torch::tensor(r->step()));
      write_if_defined(ar, pre + "square_avg", r->square_avg());
      write_if_defined(ar, pre + "momentum_buffer", r->momentum_buffer());
      write_if_defined(ar, pre + "grad_avg", r->grad_avg());
    } else {
      throw std::logic_error("save: unsupported optimizer state");
    }
  }
}

// Returns false (state left empty) when the checkpoint's optimizer is of another kind.
// A state saved per parameter tensor (before the flat parameters) is joined into one.
torch::Tensor read_joined(torch::serialize::InputArchive& ar, size_t num_tensors, const std::string& name) {
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < num_tensors; ++i) {
    auto t = read_optional(ar, "param" + std::to_string(i) + "/" + name);
    if (!t.defined()) return {};
    parts.push_back(t.reshape({-1}));
  }
  return torch::cat(parts);
}

// One parameter's optimizer state; `read(name)` gives each of its buffers (undefined: none).
template <class Read>
std::unique_ptr<torch::optim::OptimizerParamState> make_state(const std::string& kind, int64_t step, Read read) {
  if (kind == "rmsprop") {
    auto r = std::make_unique<torch::optim::RMSpropParamState>();
    r->step(step);
    r->square_avg(read("square_avg"));
    r->momentum_buffer(read("momentum_buffer"));
    r->grad_avg(read("grad_avg"));
    return r;
  }
  auto a = std::make_unique<torch::optim::AdamParamState>();
  a->step(step);
  a->exp_avg(read("exp_avg"));
  a->exp_avg_sq(read("exp_avg_sq"));
  a->max_exp_avg_sq(read("max_exp_avg_sq"));
  return a;
}

bool load_optimizer_state(torch::optim::Optimizer& opt, const std::string& kind,
                          const std::vector<torch::Tensor>& params, size_t model_tensors,
                          torch::serialize::InputArchive& ar) {
  torch::Tensor kind_t;
  ar.read("kind", kind_t);
  if (tensor_string(kind_t) != kind) return false;
  torch::Tensor probe;
  if (params.size() == 1 && model_tensors > 1 && ar.try_read("param1/step", probe)) {
    // Per-tensor layout: the flat state is the concatenation in parameter order.
    torch::Tensor step;
    ar.read("param0/step", step);
    opt.state()[state_key(params[0])] = make_state(
        kind, step.item<int64_t>(), [&](const std::string& name) { return read_joined(ar, model_tensors, name); });
    return true;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string pre = "param" + std::to_string(i) + "/";
    torch::Tensor step;
    if (!ar.try_read(pre + "step", step)) continue;
    opt.state()[state_key(params[i])] = make_state(
        kind, step.item<int64_t>(), [&](const std::string& name) { return read_optional(ar, pre + name); });
  }
  return true;
}

template <class T>
torch::Tensor from_vector(const std::vector<T>& v, std::vector<int64_t> shape,
                          torch::ScalarType type) {
  return torch::from_blob(const_cast<T*>(v.data()), shape, type).clone();
}

}  // namespace

double explained_variance(const torch::Tensor& y, const torch::Tensor& pred) {
  const double var_y = y.var(/*unbiased=*/false).item<double>();
  const double var_diff = (y - pred).var(/*unbiased=*/false).item<double>();
  if (var_y <= 0.0) return var_diff <= 0.0 ? 1.0 : -1.0;
  return std::max(-1.0, 1.0 - var_diff / var_y);
}

TorchAlgorithm::TorchAlgorithm(std::string name, const PolicySpec& spec, uint64_t seed)
    : name_(std::move(name)),
      spec_(spec),
      model_(make_model(spec, seed)),
      flat_(flatten_parameters(model_)),
      optimizer_(make_optimizer(spec.config, flat_)),
      rng_(seed ^ 0x9e3779b97f4a7c15ULL) {
  publish_locked_copy();
}

std::shared_ptr<const InferenceModel> TorchAlgorithm::snapshot() const {
  std::lock_guard lk(snapshot_mu_);
  return snapshot_;
}

void TorchAlgorithm::publish() {
  ++version_;
  publish_locked_copy();
}

void TorchAlgorithm::publish_locked_copy() {
  // The copy is made outside the lock; readers only ever wait for a pointer swap.
  auto snap =
      std::make_shared<const TorchInferenceModel>(spec_, clone_model(spec_, model_), version_);
  std::lock_guard lk(snapshot_mu_);
  snapshot_ = std::move(snap);
}

void TorchAlgorithm::set_lr(double lr) {
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

double TorchAlgorithm::clip_gradients() {
  const auto params = flat_.list();
  const double max_norm =
      spec_.config.grad_clip > 0 ? spec_.config.grad_clip : std::numeric_limits<double>::infinity();
  // clip_grad_norm_ returns the total norm before clipping; with max_norm = inf it only
  // measures.
  return torch::nn::utils::clip_grad_norm_(params, max_norm);
}

void TorchAlgorithm::note_problem(std::string what) {
  if (problems_.size() < 16) problems_.push_back("policy '" + spec_.policy_id + "': " + std::move(what));
}

std::vector<std::string> TorchAlgorithm::take_problems() { return std::exchange(problems_, {}); }

TrainStats TorchAlgorithm::skipped_batch(const std::string& why) {
  note_problem("train batch skipped: " + why);
  return {{"num_sgd_steps", 0.0}, {"num_bad_batches_skipped", 1.0}, {"num_bad_sgd_steps_skipped", 0.0}};
}

TorchAlgorithm::Step TorchAlgorithm::guarded_step(const torch::Tensor& loss, const std::vector<torch::Tensor>& good,
                                                  double& gnorm, StepShare* share) {
  // In place, never reset to undefined (the parameters' gradients are views of flat_.grad).
  flat_.grad.zero_();
  const double l = loss.item<double>();
  if (!std::isfinite(l)) {
    // In a group the others wait for this step's all-reduce: its non-finite loss goes there
    // and makes every rank skip the step.
    if (group_) return apply_gradient(l, good, gnorm, share);
    note_problem("SGD step skipped: the loss is not finite");
    return Step::Skipped;
  }
  loss.backward();
  return apply_gradient(l, good, gnorm, share);
}

TorchAlgorithm::Step TorchAlgorithm::apply_gradient(double loss, const std::vector<torch::Tensor>& good,
                                                    double& gnorm, StepShare* share) {
  if (group_) {
    if (!share) throw std::logic_error(name_ + ": an SGD step in a replica group needs its share");
    share_gradient(loss, *share);
    if (share->rows == 0) return Step::Idle;
  }
  if (!std::isfinite(loss)) {
    flat_.grad.zero_();
    note_problem("SGD step skipped: the loss is not finite");
    return Step::Skipped;
  }
  gnorm = clip_gradients();
  if (!std::isfinite(gnorm)) {
    flat_.grad.zero_();
    note_problem("SGD step skipped: the gradient norm is not finite");
    return Step::Skipped;
  }
  optimizer_->step();
  if (auto why = check_weights(flat_.list()); !why.empty()) {
    restore_weights(flat_.list(), good);
    optimizer_ = make_optimizer(spec_.config, flat_);  // its moments saw the bad step
    note_problem("SGD step rolled back to the iteration's starting weights (optimizer state reset): " + why);
    return Step::RolledBack;
  }
  return Step::Taken;
}

BatchTensors TorchAlgorithm::to_tensors(const SampleBatch& b) const {
  const int64_t n = b.count;
  const auto un = static_cast<size_t>(n);
  const int64_t obs_dim = spec_.observation_space.preprocessed_size();
  const int64_t ddim = model_->dist_dim();
  const auto& as = spec_.action_space;
  auto check = [&](size_t got, int64_t per_step, const char* what) {
    if (got != un * static_cast<size_t>(per_step))
      throw std::invalid_argument(name_ + " train: batch '" + what + "' has " +
                                  std::to_string(got) + " values, expected " + std::to_string(n) +
                                  " x " + std::to_string(per_step) + " for policy '" +
                                  spec_.policy_id + "'");
  };
  if (b.obs_dim != obs_dim)
    throw std::invalid_argument(name_ + " train: batch obs_dim " + std::to_string(b.obs_dim) +
                                " != " + std::to_string(obs_dim) + " of policy '" +
                                spec_.policy_id + "'");
  check(b.obs.size(), obs_dim, "obs");
  check(b.action_logp.size(), 1, "action_logp");
  check(b.vf_preds.size(), 1, "vf_preds");
  check(b.advantages.size(), 1, "advantages");
  check(b.value_targets.size(), 1, "value_targets");
  check(b.dist_inputs.size(), ddim, "dist_inputs");

  BatchTensors t;
  t.n = n;
  t.obs = from_vector(b.obs, {n, obs_dim}, torch::kFloat32);
  if (as.kind == SpaceKind::Box) {
    check(b.actions_cont.size(), as.raw_size(), "actions_cont");
    t.actions_cont = from_vector(b.actions_cont, {n, as.raw_size()}, torch::kFloat32);
  } else {
    check(b.actions.size(), as.raw_size(), "actions");
    t.actions = from_vector(b.actions, {n, as.raw_size()}, torch::kInt64);
    // An out-of-range action would read out of bounds in gather: reject it here.
    for (size_t i = 0; i < b.actions.size(); ++i) {
      const int64_t k = as.kind == SpaceKind::Discrete ? as.n : as.nvec[i % as.nvec.size()];
      if (b.actions[i] < 0 || b.actions[i] >= k)
        throw std::invalid_argument(name_ + " train: action " + std::to_string(b.actions[i]) +
                                    " out of range for " + as.describe());
    }
  }
  t.old_logp = from_vector(b.action_logp, {n}, torch::kFloat32);
  t.vf_preds = from_vector(b.vf_preds, {n}, torch::kFloat32);
  t.old_dist_inputs = from_vector(b.dist_inputs, {n, ddim}, torch::kFloat32);
  t.advantages = from_vector(b.advantages, {n}, torch::kFloat32);
  t.value_targets = from_vector(b.value_targets, {n}, torch::kFloat32);
  return t;
}

void TorchAlgorithm::save(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  archive.write("format", torch::tensor(kCheckpointFormat));
  archive.write("algorithm", string_tensor(name_));
  archive.write("architecture", string_tensor(architecture_json(spec_).dump()));
  archive.write("config", string_tensor(spec_.config.to_json().dump()));
  archive.write("version", torch::tensor(version_));
  std::ostringstream rng;
  rng << rng_;
  archive.write("rng", string_tensor(rng.str()));
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model_->save(model_archive);
  save_optimizer_state(*optimizer_, spec_.config.optimizer, flat_.list(), optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  save_state(archive);
  // Write then rename, so that a crash never leaves a half-written checkpoint behind.
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

void TorchAlgorithm::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read checkpoint " + path + ": " + e.what_without_backtrace());
  }
  auto read_string = [&](const char* key) {
    torch::Tensor t;
    archive.read(key, t);
    return tensor_string(t);
  };
  torch::Tensor format;
  archive.read("format", format);
  if (format.item<int64_t>() != kCheckpointFormat && format.item<int64_t>() != 1)
    throw std::runtime_error("checkpoint " + path + " has an unknown format");
  if (const auto algo = read_string("algorithm"); algo != name_)
    throw std::runtime_error("checkpoint " + path + " holds a '" + algo + "' policy, not '" +
                             name_ + "'");
  const auto arch = nlohmann::json::parse(read_string("architecture"));
  if (arch != architecture_json(spec_))
    throw std::runtime_error("checkpoint " + path + " does not fit policy '" + spec_.policy_id +
                             "': it has " + arch.dump() + ", the policy has " +
                             architecture_json(spec_).dump());

  // Load into fresh objects and swap them in at the end: a failure leaves *this intact.
  ActorCritic model = make_model(spec_, std::nullopt);
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model->load(model_archive);
  auto flat = flatten_parameters(model);  // after load, which replaced the parameters' storage
  auto optimizer = make_optimizer(spec_.config, flat);
  // A checkpoint of another optimizer kind (the config changed) restarts its state.
  load_optimizer_state(*optimizer, spec_.config.optimizer, flat.list(), model->parameters().size(), optimizer_archive);
  torch::Tensor version;
  archive.read("version", version);
  std::mt19937_64 rng;
  std::istringstream(read_string("rng")) >> rng;
  load_state(archive);  // last of the reads that can fail

  model_ = std::move(model);
  flat_ = std::move(flat);
  optimizer_ = std::move(optimizer);
  version_ = version.item<int64_t>();
  rng_ = rng;
  publish_locked_copy();
}

}  // namespace tandem::algo
