#include "policy_server/policy_table.h"

#include "policy_server/inference_batcher.h"

#include <stdexcept>
#include <string>

namespace tandem::server {

PolicyTable::PolicyTable(core::PolicySet set) : set_(std::move(set)) {
  for (size_t i = 0; i < set_.policies.size(); ++i) entries_.push_back(std::make_unique<Entry>());
}

PolicyTable::~PolicyTable() = default;

std::shared_ptr<const algo::InferenceModel> PolicyTable::model(int p) const {
  const auto& e = at(p);
  return e.algorithm ? e.algorithm->snapshot() : e.fixed.load();
}

void PolicyTable::install(int p, std::shared_ptr<const algo::InferenceModel> model) {
  auto& e = at(p);
  if (e.algorithm) throw std::logic_error("install: policy " + std::to_string(p) + " is trained, not frozen");
  e.fixed.store(std::move(model));
}

void PolicyTable::freeze(int p, std::shared_ptr<const algo::InferenceModel> model) {
  auto& e = at(p);
  e.fixed.store(std::move(model));
  e.algorithm.reset();
}

std::vector<int64_t> PolicyTable::versions() const {
  std::vector<int64_t> v;
  for (int p = 0; p < num_policies(); ++p) v.push_back(model(p)->version());
  return v;
}

}  // namespace tandem::server
