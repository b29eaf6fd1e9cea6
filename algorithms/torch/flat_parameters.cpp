#include "algorithms/torch/flat_parameters.h"

namespace tandem::algo {

FlatParameters flatten_parameters(ActorCritic& model) {
  auto params = model->parameters();
  int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  FlatParameters f;
  f.data = torch::empty({total}, torch::kFloat32);
  f.grad = torch::zeros({total}, torch::kFloat32);
  torch::NoGradGuard no_grad;
  int64_t off = 0;
  for (auto& p : params) {
    const int64_t n = p.numel();
    auto view = f.data.narrow(0, off, n).view(p.sizes());
    view.copy_(p);
    p.set_data(view);
    p.mutable_grad() = f.grad.narrow(0, off, n).view(p.sizes());
    off += n;
  }
  f.data.set_requires_grad(true);
  f.data.mutable_grad() = f.grad;
  return f;
}

}  // namespace tandem::algo
