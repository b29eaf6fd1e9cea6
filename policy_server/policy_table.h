#pragma once
// The hosted policies: one entry per policy {spec, algorithm or none, batcher}, and the
// policy mapping (agent id -> policy). Implements core::PolicyResolver, so the episode core
// and the request checks place agents through it.
//
// An entry with an algorithm is trained by the learner and serves its newest snapshot; an
// entry without one serves a fixed model and is never trained (a frozen opponent, an
// evaluated checkpoint). Entries are made at start; the table never changes afterwards, so
// readers need no lock.
#include <memory>
#include <string>
#include <vector>

#include "algorithms/policy.h"
#include "core/policy_set.h"

namespace tandem::server {

class InferenceBatcher;

class PolicyTable : public core::PolicyResolver {
 public:
  struct Entry {
    Entry();
    Entry(Entry&&) noexcept;
    ~Entry();
    core::PolicySpec spec;
    std::unique_ptr<algo::Algorithm> algorithm;             // null: served, never trained
    std::shared_ptr<const algo::InferenceModel> fixed;       // the model when there is no algorithm
    std::unique_ptr<InferenceBatcher> batcher;
  };

  explicit PolicyTable(std::map<std::string, std::string> mapping) : mapping_(std::move(mapping)) {}
  ~PolicyTable() override;
  // Before the server starts. Returns the new entry's index.
  int add(Entry e);

  int policy_for(std::string_view episode_id, std::string_view agent_id) const override;
  const core::PolicySpec& spec(int p) const override { return entries_.at(static_cast<size_t>(p))->spec; }
  int num_policies() const override { return static_cast<int>(entries_.size()); }
  int index_of(std::string_view policy_id) const;

  // The newest weights of policy p (algorithm snapshot, or the fixed model).
  std::shared_ptr<const algo::InferenceModel> model(int p) const;
  algo::Algorithm* algorithm(int p) const { return entries_.at(static_cast<size_t>(p))->algorithm.get(); }
  InferenceBatcher& batcher(int p) const { return *entries_.at(static_cast<size_t>(p))->batcher; }
  std::vector<int64_t> versions() const;  // every policy's newest weight version, in order
  // Setup only: from now on policy p serves `model` and is never trained (its algorithm,
  // if any, is dropped).
  void freeze(int p, std::shared_ptr<const algo::InferenceModel> model);
  // Setup only: the batcher of entry p (made after the entry, as it reads the table).
  std::unique_ptr<InferenceBatcher>& entry_batcher(int p) { return entries_.at(static_cast<size_t>(p))->batcher; }

 private:
  std::map<std::string, std::string> mapping_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace tandem::server
