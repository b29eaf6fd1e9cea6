#include "algorithms/torch/inference_model.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace tandem::algo {
namespace {

// Up to this many multiply-adds per call the plain loops beat the torch (BLAS) forward and
// its ~14 µs of dispatcher overhead. Measured with one intra-op thread on the dev box:
// [64,64] MLP, obs 4: plain 2.8 µs vs torch 14 µs at batch 1, even at batch ~8 (~70k MACs);
// [256,256]: ~21 µs both at batch 1 (133k MACs, memory-bound).
constexpr int64_t kPlainMacBudget = 1 << 16;

// Uniform double in [0, 1) from 53 random bits.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Standard normal (Box-Muller), identical on every platform (std::normal_distribution is not).
double std_normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform01(rng);  // (0, 1]
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

inline float activate(Activation a, float x) {
  switch (a) {
    case Activation::Tanh:
      return std::tanh(x);
    case Activation::Relu:
      return x > 0.f ? x : 0.f;
    case Activation::Elu:
      return x > 0.f ? x : std::expm1(x);
    case Activation::Linear:
      return x;
  }
  return x;
}

}  // namespace

void set_torch_num_threads(int n) { at::set_num_threads(n); }

TorchInferenceModel::TorchInferenceModel(const PolicySpec& spec, ActorCritic model, int64_t version)
    : action_space_(spec.action_space),
      obs_dim_(model->obs_dim()),
      dist_dim_(model->dist_dim()),
      version_(version),
      act_(model->activation()),
      share_(model->share_layers()),
      model_(std::move(model)),
      tensor_specs_(core::model_tensors(spec)) {
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
  pi_ = extract(model_->pi_hidden, model_->pi_out);
  vf_ = extract(share_ ? std::vector<torch::nn::Linear>{} : model_->vf_hidden, model_->vf_out);
  if (model_->log_std.defined()) {
    auto ls = model_->log_std.contiguous();
    log_std_.assign(ls.data_ptr<float>(), ls.data_ptr<float>() + ls.numel());
  }
  for (const auto& l : pi_) macs_per_sample_ += l.in * l.out;
  for (const auto& l : vf_) macs_per_sample_ += l.in * l.out;
}

std::vector<TorchInferenceModel::Dense> TorchInferenceModel::extract(
    const std::vector<torch::nn::Linear>& hidden, const torch::nn::Linear& head) {
  std::vector<Dense> out;
  auto add = [&](const torch::nn::Linear& l) {
    Dense d;
    auto wt = l->weight.detach().t().contiguous();  // [in, out]
    auto b = l->bias.detach().contiguous();
    d.in = wt.size(0);
    d.out = wt.size(1);
    d.wt.assign(wt.data_ptr<float>(), wt.data_ptr<float>() + wt.numel());
    d.b.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
    out.push_back(std::move(d));
  };
  for (const auto& l : hidden) add(l);
  add(head);
  return out;
}

bool TorchInferenceModel::use_plain(int64_t batch) const {
  return batch * macs_per_sample_ <= kPlainMacBudget;
}

// out = W in + b (weights stored transposed so that the inner loop is an axpy).
void TorchInferenceModel::dense(const Dense& d, const float* in, float* out) {
  std::copy(d.b.begin(), d.b.end(), out);
  const float* w = d.wt.data();
  for (int64_t i = 0; i < d.in; ++i, w += d.out) {
    const float xi = in[i];
    for (int64_t j = 0; j < d.out; ++j) out[j] += xi * w[j];
  }
}

// Runs all layers but the last (the head), each followed by the activation; returns the
// head's input (x itself when there are no hidden layers).
const float* TorchInferenceModel::trunk(const std::vector<Dense>& layers, const float* x,
                                        std::vector<float>& buf_a,
                                        std::vector<float>& buf_b) const {
  const float* in = x;
  for (size_t li = 0; li + 1 < layers.size(); ++li) {
    const Dense& d = layers[li];
    auto& buf = (in == buf_a.data()) ? buf_b : buf_a;
    if (buf.size() < static_cast<size_t>(d.out)) buf.resize(static_cast<size_t>(d.out));
    float* o = buf.data();
    dense(d, in, o);
    for (int64_t j = 0; j < d.out; ++j) o[j] = activate(act_, o[j]);
    in = o;
  }
  return in;
}

void TorchInferenceModel::forward(std::span<const float> obs, int64_t batch,
                                  std::vector<float>& dist_inputs, std::vector<float>* values,
                                  Path path) const {
  if (static_cast<int64_t>(obs.size()) != batch * obs_dim_)
    throw std::invalid_argument("InferenceModel: obs has " + std::to_string(obs.size()) +
                                " floats, expected " + std::to_string(batch) + " x " +
                                std::to_string(obs_dim_));
  dist_inputs.resize(static_cast<size_t>(batch * dist_dim_));
  if (values) values->resize(static_cast<size_t>(batch));
  const bool plain = path == Path::Plain || (path == Path::Auto && use_plain(batch));
  if (plain) {
    thread_local std::vector<float> pa, pb, va, vb;
    const int64_t n_out = pi_.back().out;
    for (int64_t i = 0; i < batch; ++i) {
      const float* x = obs.data() + i * obs_dim_;
      float* di = dist_inputs.data() + i * dist_dim_;
      const float* h = trunk(pi_, x, pa, pb);
      dense(pi_.back(), h, di);
      if (!log_std_.empty()) std::copy(log_std_.begin(), log_std_.end(), di + n_out);
      if (values) dense(vf_.back(), share_ ? h : trunk(vf_, x, va, vb), values->data() + i);
    }
    return;
  }
  c10::InferenceMode guard;
  auto x = torch::from_blob(const_cast<float*>(obs.data()), {batch, obs_dim_}, torch::kFloat32);
  auto out = model_.ptr()->forward(x);
  auto d = out.dist_inputs.contiguous();
  std::copy(d.data_ptr<float>(), d.data_ptr<float>() + d.numel(), dist_inputs.begin());
  if (values) {
    auto v = out.values.contiguous();
    std::copy(v.data_ptr<float>(), v.data_ptr<float>() + v.numel(), values->begin());
  }
}

void TorchInferenceModel::compute_actions(std::span<const float> obs, int64_t batch,
                                          std::span<const float> masks,
                                          std::span<const uint8_t> explore, std::mt19937_64& rng,
                                          std::vector<ActionResult>& out) const {
  const bool box = action_space_.kind == SpaceKind::Box;
  if (!masks.empty() && (box || static_cast<int64_t>(masks.size()) != batch * dist_dim_))
    throw std::invalid_argument("compute_actions: masks must be empty or batch x " +
                                std::to_string(dist_dim_) + " floats for " +
                                action_space_.describe() + ", got " + std::to_string(masks.size()));
  if (!explore.empty() && static_cast<int64_t>(explore.size()) != batch)
    throw std::invalid_argument("compute_actions: explore must be empty or hold batch flags");
  thread_local std::vector<float> dist, values;
  forward(obs, batch, dist, &values);

  out.resize(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    ActionResult& r = out[static_cast<size_t>(i)];
    const bool sample = explore.empty() || explore[static_cast<size_t>(i)] != 0;
    r.dist_inputs.assign(dist.begin() + i * dist_dim_, dist.begin() + (i + 1) * dist_dim_);
    r.vf_pred = values[static_cast<size_t>(i)];
    r.discrete.clear();
    r.continuous.clear();
    if (box) {
      const int64_t d = dist_dim_ / 2;
      for (int64_t k = 0; k < d; ++k) {
        const double mean = r.dist_inputs[k], log_std = r.dist_inputs[d + k];
        const double z = sample ? std_normal(rng) : 0.0;
        r.continuous.push_back(static_cast<float>(mean + std::exp(log_std) * z));
      }
    } else {
      float* logits = r.dist_inputs.data();
      if (!masks.empty()) {
        const float* m = masks.data() + i * dist_dim_;
        for (int64_t k = 0; k < dist_dim_; ++k)
          if (!(m[k] > 0.f)) logits[k] = kMaskedLogit;
      }
      const bool multi = action_space_.kind == SpaceKind::MultiDiscrete;
      const size_t ncomp = multi ? action_space_.nvec.size() : 1;
      int64_t off = 0;
      for (size_t c = 0; c < ncomp; ++c) {
        const int64_t n = multi ? action_space_.nvec[c] : action_space_.n;
        const float* l = logits + off;
        const int64_t amax = std::max_element(l, l + n) - l;  // first maximum
        const double mx = l[amax];
        double total = 0.0;
        for (int64_t k = 0; k < n; ++k) total += std::exp(static_cast<double>(l[k]) - mx);
        int64_t a = amax;
        if (sample) {
          const double u = uniform01(rng) * total;
          double cum = 0.0;
          for (int64_t k = 0; k < n; ++k) {
            const double p = std::exp(static_cast<double>(l[k]) - mx);
            cum += p;
            if (p > 0.0) a = k;  // the last action with p > 0 absorbs rounding at the top
            if (u < cum && p > 0.0) break;
          }
        }
        r.discrete.push_back(a);
        off += n;
      }
    }
    // The one log-prob of an action under its distribution inputs (core/action_logp.h), as
    // the server's checks and LogAction compute it.
    r.logp = action_logp(action_space_, r.dist_inputs, r.discrete, r.continuous);
  }
}

void TorchInferenceModel::compute_values(std::span<const float> obs, int64_t batch,
                                         std::vector<float>& out) const {
  if (static_cast<int64_t>(obs.size()) != batch * obs_dim_)
    throw std::invalid_argument("compute_values: obs has " + std::to_string(obs.size()) +
                                " floats, expected " + std::to_string(batch) + " x " +
                                std::to_string(obs_dim_));
  out.resize(static_cast<size_t>(batch));
  if (use_plain(batch)) {
    thread_local std::vector<float> a, b;
    const auto& layers = share_ ? pi_ : vf_;  // shared: the value head sits on the policy trunk
    for (int64_t i = 0; i < batch; ++i)
      dense(vf_.back(), trunk(layers, obs.data() + i * obs_dim_, a, b), out.data() + i);
    return;
  }
  c10::InferenceMode guard;
  auto x = torch::from_blob(const_cast<float*>(obs.data()), {batch, obs_dim_}, torch::kFloat32);
  auto v = model_.ptr()->values(x).contiguous();
  std::copy(v.data_ptr<float>(), v.data_ptr<float>() + v.numel(), out.begin());
}

std::string TorchInferenceModel::serialize_weights() const {
  std::call_once(blob_once_, [this] {
    torch::serialize::OutputArchive archive;
    model_->save(archive);
    std::ostringstream os;
    archive.save_to(os);
    blob_ = os.str();
  });
  return blob_;
}

std::shared_ptr<const core::WeightTensors> TorchInferenceModel::weights() const {
  std::call_once(tensors_once_, [this] {
    auto out = std::make_shared<core::WeightTensors>();
    const auto params = model_->named_parameters();
    for (const auto& ts : tensor_specs_) {
      const auto* p = params.find(ts.name);
      if (!p || p->sizes().vec() != ts.shape)
        throw std::logic_error("the model of this policy does not match core::model_tensors at " + ts.name);
      const auto t = p->detach().contiguous();
      out->push_back({ts.name, ts.shape, std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel())});
    }
    tensors_ = std::move(out);
  });
  return tensors_;
}

std::shared_ptr<const InferenceModel> load_inference_model(const PolicySpec& spec,
                                                           const core::WeightTensors& tensors,
                                                           int64_t version) {
  const auto expected = core::model_tensors(spec);
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("load_inference_model: weights of policy '" + spec.policy_id + "': " + why);
  };
  if (tensors.size() != expected.size())
    fail(std::to_string(tensors.size()) + " tensors, the model has " + std::to_string(expected.size()));
  ActorCritic model = make_model(spec, std::nullopt);
  auto params = model->named_parameters();
  torch::NoGradGuard no_grad;
  for (const auto& e : expected) {
    const auto it = std::find_if(tensors.begin(), tensors.end(), [&](const core::NamedTensor& t) { return t.name == e.name; });
    if (it == tensors.end()) fail("tensor '" + e.name + "' is missing");
    if (it->shape != e.shape || static_cast<int64_t>(it->data.size()) != core::num_elements(e.shape))
      fail("tensor '" + e.name + "' does not have the model's shape");
    auto* p = params.find(e.name);
    if (!p) fail("the model has no tensor '" + e.name + "'");
    p->copy_(torch::from_blob(const_cast<float*>(it->data.data()), e.shape, torch::kFloat32));
  }
  return std::make_shared<TorchInferenceModel>(spec, std::move(model), version);
}

std::shared_ptr<const InferenceModel> load_inference_model(const PolicySpec& spec,
                                                           const std::string& blob,
                                                           int64_t version) {
  ActorCritic model = make_model(spec, std::nullopt);
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& p : model->parameters()) shapes.push_back(p.sizes().vec());
  try {
    std::istringstream is(blob);
    torch::serialize::InputArchive archive;
    archive.load_from(is);
    model->load(archive);
  } catch (const c10::Error& e) {
    throw std::invalid_argument("load_inference_model: bad weights blob for policy '" +
                                spec.policy_id + "': " + e.what_without_backtrace());
  }
  size_t i = 0;
  for (const auto& p : model->parameters())
    if (p.sizes().vec() != shapes[i++])
      throw std::invalid_argument("load_inference_model: weights do not fit the model of policy '" +
                                  spec.policy_id + "'");
  return std::make_shared<TorchInferenceModel>(spec, std::move(model), version);
}

}  // namespace tandem::algo
