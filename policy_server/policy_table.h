#pragma once
// The hosted policies: the specs and the mapping (one core::PolicySet, read by the same
// reader as the local client's) and per policy {algorithm or none, fixed model, batcher}.
// Implements core::PolicyResolver, so the episode core and the request checks place agents
// through it.
//
// A policy with an algorithm is trained by the learner and serves its newest snapshot; one
// without serves a fixed model and is never trained (policies_to_train: a frozen opponent,
// an evaluated checkpoint). The table is set up before the server starts and its policies do
// not change afterwards, so readers take no lock; only the model a frozen policy serves may be
// replaced while it runs (install: the self-play league's snapshot slots), atomically.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "algorithms/policy.h"
#include "core/policy_set.h"

namespace tandem::server {

class InferenceBatcher;

class PolicyTable : public core::PolicyResolver {
 public:
  explicit PolicyTable(core::PolicySet set);
  ~PolicyTable() override;

  int policy_for(std::string_view episode_id, std::string_view agent_id) const override {
    return set_.policy_for(episode_id, agent_id);
  }
  const core::PolicySpec& spec(int p) const override { return set_.spec(p); }
  int num_policies() const override { return set_.num_policies(); }
  int index_of(std::string_view policy_id) const { return set_.index_of(policy_id); }

  // The newest weights of policy p (algorithm snapshot, or the fixed model).
  std::shared_ptr<const algo::InferenceModel> model(int p) const;
  algo::Algorithm* algorithm(int p) const { return at(p).algorithm.get(); }
  InferenceBatcher& batcher(int p) const { return *at(p).batcher; }
  std::vector<int64_t> versions() const;  // every policy's newest weight version, in order
  // A frozen policy (no algorithm) serves `model` from now on. Any thread.
  void install(int p, std::shared_ptr<const algo::InferenceModel> model);

  // ---- setup only (before the server starts) ----
  void set_algorithm(int p, std::unique_ptr<algo::Algorithm> a) { at(p).algorithm = std::move(a); }
  // From now on policy p serves `model` and is never trained (its algorithm is dropped).
  void freeze(int p, std::shared_ptr<const algo::InferenceModel> model);
  std::unique_ptr<InferenceBatcher>& batcher_slot(int p) { return at(p).batcher; }

 private:
  struct Entry {
    std::unique_ptr<algo::Algorithm> algorithm;        // null: served, never trained
    std::atomic<std::shared_ptr<const algo::InferenceModel>> fixed;  // the model when there is no algorithm
    std::unique_ptr<InferenceBatcher> batcher;
  };
  Entry& at(int p) const { return *entries_.at(static_cast<size_t>(p)); }

  core::PolicySet set_;
  std::vector<std::unique_ptr<Entry>> entries_;  // one per policy, in set_ order
};

}  // namespace tandem::server
