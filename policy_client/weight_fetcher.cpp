#include "policy_client/weight_fetcher.h"

#include <algorithm>

#include "algorithms/scripted_model.h"
#include "core/weight_tensors.h"

namespace tandem::client {

WeightFetcher::WeightFetcher(const std::vector<core::PolicySpec>& specs)
    : specs_(specs), models_(specs.size()) {}

int WeightFetcher::fetch(Connection& conn, bool any_version) {
  int updated = 0;
  for (size_t p = 0; p < specs_.size(); ++p) {
    const auto mine = model(static_cast<int>(p));
    if (specs_[p].script) {  // scripted: no weights to fetch, the script runs here
      if (!mine) {
        std::lock_guard lk(mu_);
        models_[p] = algo::make_scripted_model(specs_[p]);
      }
      continue;
    }
    const int64_t have = mine && !any_version ? mine->version() : -1;
    const std::string what = "GetWeights(" + specs_[p].policy_id + ")";
    const uint64_t rid = conn.next_id();
    auto w = conn.call_as<core::Weights>(rid, core::GetWeights{specs_[p].policy_id, have}, what);
    if (w.version < 0) continue;  // ours is current
    core::WeightAssembler parts;
    for (;;) {
      if (auto st = parts.add(w); !st.ok()) throw ConnectionError("server sent bad weights: " + st.message);
      if (parts.complete()) break;
      w = expect_reply<core::Weights>(conn.wait_more(rid), what);
    }
    if (parts.policy_id() != specs_[p].policy_id)
      throw ConnectionError("server answered " + what + " with the weights of another policy");
    const int64_t version = parts.version();
    auto m = algo::load_inference_model(specs_[p], parts.take(), version);
    std::lock_guard lk(mu_);
    models_[p] = std::move(m);
    ++updates_;
    ++updated;
  }
  return updated;
}

std::shared_ptr<const algo::InferenceModel> WeightFetcher::model(int policy) const {
  std::lock_guard lk(mu_);
  return models_.at(static_cast<size_t>(policy));
}

bool WeightFetcher::complete() const {
  std::lock_guard lk(mu_);
  return std::all_of(models_.begin(), models_.end(), [](const auto& m) { return m != nullptr; });
}

int64_t WeightFetcher::first_version() const {
  std::lock_guard lk(mu_);
  for (size_t p = 0; p < models_.size(); ++p)  // scripted policies have no weights (version 0)
    if (!specs_[p].script) return models_[p] ? models_[p]->version() : 0;
  return 0;
}

bool WeightFetcher::behind(const std::vector<int64_t>& server_versions) const {
  std::lock_guard lk(mu_);
  for (size_t p = 0; p < models_.size() && p < server_versions.size(); ++p)
    if (models_[p] && server_versions[p] > models_[p]->version()) return true;
  return false;
}

void WeightFetcher::fill(LocalStats& s) const {
  std::lock_guard lk(mu_);
  s.weights_version = -1;
  s.weight_updates = updates_;
  for (size_t p = 0; p < models_.size(); ++p) {
    const auto v = models_[p] ? models_[p]->version() : -1;
    s.policy_versions[specs_[p].policy_id] = v;
    if (!specs_[p].script) s.weights_version = s.weights_version < 0 ? v : std::min(s.weights_version, v);
  }
}

}  // namespace tandem::client
