#include "algorithms/torch/fused_ppo.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>

#include "algorithms/sample_batch.h"

extern "C" {
// BLAS (OpenBLAS via libblas.so.3, as LibTorch uses it). Row-major through CblasRowMajor.
enum CBLAS_ORDER { CblasRowMajor = 101 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
}

namespace tandem::algo {

FusedPpoInputs fused_inputs(const PpoMinibatch& mb) {
  FusedPpoInputs in;
  in.m = mb.size();
  in.obs = mb.obs.data_ptr<float>();
  in.actions = mb.actions.data_ptr<int64_t>();
  in.old_logp = mb.old_logp.data_ptr<float>();
  in.old_dist_inputs = mb.old_dist_inputs.data_ptr<float>();
  in.vf_preds = mb.vf_preds.data_ptr<float>();
  in.value_targets = mb.value_targets.data_ptr<float>();
  in.advantages = mb.advantages.data_ptr<float>();
  in.advantages_standardised = mb.advantages_standardised;
  return in;
}

namespace {
int I(int64_t v) { return static_cast<int>(v); }

// tanh as Eigen's rational approximation (generic_fast_tanh_float: a few ulp of float
// precision on all of float's range), without a libm call, so the loop vectorises. libm's
// scalar tanhf was half of this path's instructions.
inline float fast_tanh(float x) {
  constexpr float kClamp = 7.90531110763549805f;
  const float xc = std::min(kClamp, std::max(-kClamp, x));
  const float x2 = xc * xc;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = xc * p;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  return p / q;  // (Eigen returns x itself for |x| < 4e-4; p / q is within an ulp of it there)
}

// OpenBLAS splits a product over its own threads, which spin (sched_yield) for matrices this
// small: the learner's products run on the learner thread alone. (Looked up by name: the
// reference BLAS has no such function and needs nothing.)
void single_threaded_blas() {
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
}
}  // namespace

bool FusedPpo::supports(const PolicySpec& spec, const ActorCritic& model) {
  const auto act = model->activation();
  return spec.action_space.kind == SpaceKind::Discrete && !model->share_layers() &&
         (act == Activation::Tanh || act == Activation::Relu) && !model->log_std.defined();
}

FusedPpo::FusedPpo(const PolicySpec& spec)
    : config_(spec.config),
      obs_dim_(spec.observation_space.preprocessed_size()),
      n_(spec.action_space.n),
      relu_(parse_activation(spec.config.model.fcnet_activation) == Activation::Relu) {
  // model->parameters() order: pi_hidden_i (w, b)..., pi_out, vf_hidden_i..., vf_out.
  int64_t off = 0;
  auto add = [&](std::vector<Layer>& net, int64_t in, int64_t out) {
    net.push_back({in, out, off, off + in * out});
    off += in * out + out;
  };
  for (int pass = 0; pass < 2; ++pass) {
    auto& net = pass == 0 ? pi_ : vf_;
    int64_t in = obs_dim_;
    for (int64_t h : spec.config.model.fcnet_hiddens) {
      add(net, in, h);
      in = h;
    }
    add(net, in, pass == 0 ? n_ : 1);
  }
  pi_h_.resize(pi_.size());
  vf_h_.resize(vf_.size());
  single_threaded_blas();
}

void FusedPpo::forward(const std::vector<Layer>& layers, const float* params, const float* x, int64_t m,
                       std::vector<std::vector<float>>& hs) {
  const float* in = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    auto& h = hs[l];
    h.resize(static_cast<size_t>(m * L.out));
    const float* b = params + L.b;
    for (int64_t i = 0; i < m; ++i) std::copy(b, b + L.out, h.data() + i * L.out);
    // Z = X W^T + b
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, I(m), I(L.out), I(L.in), 1.f, in, I(L.in),
                params + L.w, I(L.in), 1.f, h.data(), I(L.out));
    if (l + 1 < layers.size()) {
      if (relu_)
        for (auto& v : h) v = v > 0.f ? v : 0.f;
      else
        for (size_t k = 0, e = h.size(); k < e; ++k) h[k] = fast_tanh(h[k]);
    }
    in = h.data();
  }
}

void FusedPpo::backward(const std::vector<Layer>& layers, const float* params, const float* x, int64_t m,
                        std::vector<std::vector<float>>& hs, std::vector<float>& d_out, float* grad) {
  // d_out: dLoss/dZ of the last layer. Walk down: dW = dZ^T X_l, db = sum dZ, dX_l = dZ W.
  std::vector<float>* dz = &d_out;
  for (size_t l = layers.size(); l-- > 0;) {
    const auto& L = layers[l];
    const float* in = l == 0 ? x : hs[l - 1].data();
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, I(L.out), I(L.in), I(m), 1.f, dz->data(), I(L.out), in,
                I(L.in), 0.f, grad + L.w, I(L.in));
    float* db = grad + L.b;
    std::fill(db, db + L.out, 0.f);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < L.out; ++j) db[j] += (*dz)[static_cast<size_t>(i * L.out + j)];
    if (l == 0) break;
    auto& next = dz == &d_a_ ? d_b_ : d_a_;
    next.resize(static_cast<size_t>(m * L.in));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I(m), I(L.in), I(L.out), 1.f, dz->data(), I(L.out),
                params + L.w, I(L.in), 0.f, next.data(), I(L.in));
    const auto& h = hs[l - 1];  // the activation output feeding this layer
    if (relu_)
      for (size_t k = 0; k < next.size(); ++k) next[k] = h[k] > 0.f ? next[k] : 0.f;
    else
      for (size_t k = 0; k < next.size(); ++k) next[k] *= 1.f - h[k] * h[k];
    dz = &next;
  }
}

int64_t FusedPpo::num_params() const { return vf_.back().b + vf_.back().out; }

FusedPpoStats FusedPpo::loss_and_grad(const float* params, const FusedPpoInputs& in, double kl_coeff,
                                      float* grad) {
  const AlgoConfig& c = config_;
  const int64_t m = in.m, n = n_;
  const double inv_m = 1.0 / static_cast<double>(m);
  FusedPpoStats s;
  forward(pi_, params, in.obs, m, pi_h_);
  if (c.use_critic) forward(vf_, params, in.obs, m, vf_h_);

  // Advantages standardised per minibatch (torch's std: unbiased).
  double adv_mean = 0, adv_std = 1;
  const bool norm = c.normalize_advantages && !in.advantages_standardised && m > 1;
  if (norm) {
    for (int64_t i = 0; i < m; ++i) adv_mean += in.advantages[i];
    adv_mean *= inv_m;
    double var = 0;
    for (int64_t i = 0; i < m; ++i) var += (in.advantages[i] - adv_mean) * (in.advantages[i] - adv_mean);
    adv_std = std::sqrt(var / static_cast<double>(m - 1));
  }

  d_logits_.assign(static_cast<size_t>(m * n), 0.f);
  const float* logits_all = pi_h_.back().data();
  std::vector<double> logp(static_cast<size_t>(n)), p(static_cast<size_t>(n)), old_logp_all(static_cast<size_t>(n));
  std::vector<char> masked(static_cast<size_t>(n));
  const double lo = 1.0 - c.clip_param, hi = 1.0 + c.clip_param;
  for (int64_t i = 0; i < m; ++i) {
    const float* z = logits_all + i * n;
    const float* oz = in.old_dist_inputs + i * n;
    // New log-probs over the logits, the behaviour mask applied (masked: kMaskedLogit, no grad).
    double zmax = -INFINITY, omax = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      masked[j] = oz[j] <= kMaskedLogit / 2;
      zmax = std::max(zmax, masked[j] ? static_cast<double>(kMaskedLogit) : static_cast<double>(z[j]));
      omax = std::max(omax, static_cast<double>(oz[j]));
    }
    double sum = 0, osum = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double zj = masked[j] ? kMaskedLogit : z[j];
      sum += std::exp(zj - zmax);
      osum += std::exp(static_cast<double>(oz[j]) - omax);
    }
    const double lse = zmax + std::log(sum), olse = omax + std::log(osum);
    double h = 0, kl = 0;
    for (int64_t j = 0; j < n; ++j) {
      logp[j] = (masked[j] ? kMaskedLogit : z[j]) - lse;
      p[j] = std::exp(logp[j]);
      old_logp_all[j] = oz[j] - olse;
      h -= p[j] * logp[j];
      kl += std::exp(old_logp_all[j]) * (old_logp_all[j] - logp[j]);
    }
    const int64_t a = in.actions[i];
    const double x = logp[a] - in.old_logp[i];
    const double xc = std::clamp(x, -20.0, 20.0);
    const double r = std::exp(xc);
    const double adv = norm ? (in.advantages[i] - adv_mean) / (adv_std + 1e-8) : in.advantages[i];
    const double rc = std::clamp(r, lo, hi);
    const double s1 = adv * r, s2 = adv * rc;
    s.policy_loss -= std::min(s1, s2) * inv_m;
    s.entropy += h * inv_m;
    s.kl += kl * inv_m;
    s.approx_kl += ((r - 1) - xc) * inv_m;
    s.clip_frac += (std::abs(r - 1) > c.clip_param ? 1.0 : 0.0) * inv_m;
    // d loss / d r: torch's minimum gives a tie half to each side; clamp passes the gradient
    // inside [lo, hi] (bounds included).
    const double in_range = (r >= lo && r <= hi) ? 1.0 : 0.0;
    double g1, g2;
    if (s1 < s2) g1 = 1, g2 = 0;
    else if (s1 > s2) g1 = 0, g2 = 1;
    else g1 = g2 = 0.5;
    const double d_r = -inv_m * adv * (g1 + g2 * in_range);
    const double d_newlogp = d_r * r * ((x >= -20.0 && x <= 20.0) ? 1.0 : 0.0);
    float* dz = d_logits_.data() + i * n;
    for (int64_t j = 0; j < n; ++j) {
      if (masked[j]) continue;
      double d = d_newlogp * ((j == a ? 1.0 : 0.0) - p[j]);
      d += -c.entropy_coeff * inv_m * (-p[j] * (logp[j] + h));  // - entropy_coeff * entropy
      if (kl_coeff > 0) d += kl_coeff * inv_m * (p[j] - std::exp(old_logp_all[j]));
      dz[j] = static_cast<float>(d);
    }
  }
  backward(pi_, params, in.obs, m, pi_h_, d_logits_, grad);

  // Value loss (clipped around the behaviour values when vf_clip_param > 0).
  if (c.use_critic) {
    const float* v = vf_h_.back().data();
    d_values_.resize(static_cast<size_t>(m));
    s.values.assign(v, v + m);
    for (int64_t i = 0; i < m; ++i) {
      const double vi = v[i], t = in.value_targets[i];
      const double l1 = (vi - t) * (vi - t);
      double d = 2 * (vi - t);
      double l = l1;
      if (c.vf_clip_param > 0) {
        const double dv = vi - in.vf_preds[i];
        const double vc = in.vf_preds[i] + std::clamp(dv, -c.vf_clip_param, c.vf_clip_param);
        const double l2 = (vc - t) * (vc - t);
        const double d2 = 2 * (vc - t) * ((dv >= -c.vf_clip_param && dv <= c.vf_clip_param) ? 1.0 : 0.0);
        l = std::max(l1, l2);
        d = l1 > l2 ? d : l1 < l2 ? d2 : 0.5 * (d + d2);  // torch's maximum: a tie half each
      }
      s.vf_loss += l * inv_m;
      d_values_[static_cast<size_t>(i)] = static_cast<float>(c.vf_loss_coeff * inv_m * d);
    }
    backward(vf_, params, in.obs, m, vf_h_, d_values_, grad);
  } else {
    for (const auto& L : vf_) std::fill(grad + L.w, grad + L.b + L.out, 0.f);
  }
  s.total = s.policy_loss + c.vf_loss_coeff * s.vf_loss - c.entropy_coeff * s.entropy;
  if (kl_coeff > 0) s.total += kl_coeff * s.kl;
  return s;
}

}  // namespace tandem::algo
