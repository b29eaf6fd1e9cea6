#include "policy_server/policy_table.h"

#include "policy_server/inference_batcher.h"

namespace tandem::server {

PolicyTable::Entry::Entry() = default;
PolicyTable::Entry::Entry(Entry&&) noexcept = default;
PolicyTable::Entry::~Entry() = default;
PolicyTable::~PolicyTable() = default;

int PolicyTable::add(Entry e) {
  entries_.push_back(std::make_unique<Entry>(std::move(e)));
  return static_cast<int>(entries_.size()) - 1;
}

int PolicyTable::index_of(std::string_view policy_id) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i]->spec.policy_id == policy_id) return static_cast<int>(i);
  return -1;
}

int PolicyTable::policy_for(std::string_view, std::string_view agent_id) const {
  auto it = mapping_.find(std::string(agent_id));
  if (it == mapping_.end()) it = mapping_.find("*");
  return it == mapping_.end() ? -1 : index_of(it->second);
}

std::shared_ptr<const algo::InferenceModel> PolicyTable::model(int p) const {
  const auto& e = *entries_.at(static_cast<size_t>(p));
  return e.algorithm ? e.algorithm->snapshot() : e.fixed;
}

void PolicyTable::freeze(int p, std::shared_ptr<const algo::InferenceModel> model) {
  auto& e = *entries_.at(static_cast<size_t>(p));
  e.fixed = std::move(model);
  e.algorithm.reset();
}

std::vector<int64_t> PolicyTable::versions() const {
  std::vector<int64_t> v;
  for (size_t p = 0; p < entries_.size(); ++p) v.push_back(model(static_cast<int>(p))->version());
  return v;
}

}  // namespace tandem::server
