#pragma once
// Finished trajectory fragments on their way to the learner, and how far serving may run
// ahead of it.
//
// Data flow: I/O threads push() fragments (episode registry: fragment cut, agent done,
// episode end, ReportSamples) -> the learner thread wait_take()s every fragment of each
// policy that has at least its train_batch_size steps, trains, then calls trained(). Nothing
// is dropped while the server trains.
//
// Serving ahead of the learner (set_hold; off without it): while policy p is being trained
// on batch k, serving collects batch k+1 (PPO's ratio uses the behaviour log-probs), but at
// most `ahead` training steps of it, counted when a step is recorded (collected(): open
// fragments count too) or reported. must_wait(p) says so to the batchers and to ReportSamples,
// which then hold their replies; it also holds while a whole batch waits untaken. A flush or
// a report that started may overshoot the bound by its own steps.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "algorithms/sample_batch.h"
#include "core/trajectory.h"
#include "policy_server/experience_output.h"

namespace tandem::server {

using core::FragmentOrigin;

class SampleQueue {
 public:
  explicit SampleQueue(size_t num_policies)
      : pending_(num_policies),
        pending_origins_(num_policies),
        steps_(num_policies, 0),
        trained_(num_policies, 1),
        hold_(num_policies),
        training_(new std::atomic<bool>[num_policies]),
        collected_(new std::atomic<int64_t>[num_policies]) {
    for (size_t p = 0; p < num_policies; ++p) {
      training_[p] = false;
      collected_[p] = 0;
    }
  }

  // A fragment of a training-enabled episode. With an experience output of "fragments" it is
  // written there first (also by a server that does not train).
  void push(int policy, algo::Trajectory&& t, FragmentOrigin origin);
  // Setup only: the experience output (owned by the caller). With "batches", the origin of
  // every fragment is kept for wait_take's `origins`.
  void set_output(ExperienceOutput* out) { output_ = out; }
  // Waits up to `timeout` until some policy p has >= need[p] steps or stop() was called.
  // Returns, per policy, the fragments taken (empty for policies that were not ready); with
  // `origins`, their origins beside them (empty unless the output writes "batches").
  std::vector<std::vector<algo::Trajectory>> wait_take(const std::vector<int64_t>& need,
                                                       std::chrono::milliseconds timeout,
                                                       std::vector<std::vector<FragmentOrigin>>* origins = nullptr);
  // A replica group's learner (group_learner.cpp): waits up to `timeout` until the steps
  // pending differ from `seen` (a fragment arrived) or stop() was called, and returns the
  // steps pending per policy, taking nothing; take() then takes every fragment of the policies with which[p] != 0
  // (none may be there: a rank whose clients were idle).
  std::vector<int64_t> wait_pending(const std::vector<int64_t>& seen, std::chrono::milliseconds timeout);
  std::vector<std::vector<algo::Trajectory>> take(const std::vector<char>& which,
                                                  std::vector<std::vector<FragmentOrigin>>* origins);
  // Training is over for good (a broken replica group) while serving goes on: what waits is
  // dropped, nothing more is kept, and serving never waits for the learner again.
  void release();
  void stop();
  int64_t steps_pending(int policy) const;

  // Setup only: serving of `policy` waits while `batch` steps wait untaken, or while the
  // learner trains it and `ahead` steps were collected since it took its batch.
  void set_hold(int policy, int64_t batch, int64_t ahead) {
    hold_.at(static_cast<size_t>(policy)) = {true, batch, ahead};
  }
  // `n` training steps of `policy` were recorded (remote episodes) or reported (any thread).
  void collected(int policy, int64_t n) { collected_[static_cast<size_t>(policy)].fetch_add(n); }
  // Whether serving of `policy` must wait for the learner now (any thread).
  bool must_wait(int policy) const;
  // The learner is done training `policy` on what it took; returns the training steps that
  // were collected meanwhile (learner thread).
  int64_t trained(int policy);
  int64_t steps_pushed() const { return pushed_.load(); }
  // A server that does not train (--no-train) turns this off: push() then drops fragments
  // instead of keeping them forever.
  void set_accepting(bool on) { accepting_.store(on); }
  // A policy that is served but not trained (policies_to_train) keeps nothing here either.
  // Setup only (before any push).
  void set_trained(int policy, bool on) { trained_.at(static_cast<size_t>(policy)) = on ? 1 : 0; }

 private:
  bool ready_locked(const std::vector<int64_t>& need) const;
  std::vector<std::vector<algo::Trajectory>> take_locked(const std::vector<char>& which,
                                                         std::vector<std::vector<FragmentOrigin>>* origins);
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<algo::Trajectory>> pending_;
  std::vector<std::vector<FragmentOrigin>> pending_origins_;  // "batches" output only
  std::vector<int64_t> steps_;
  bool stopped_ = false;
  bool released_ = false;  // release(): no training any more
  std::atomic<int64_t> pushed_{0};
  std::atomic<bool> accepting_{true};
  std::vector<char> trained_;
  ExperienceOutput* output_ = nullptr;
  struct Hold {
    bool on = false;
    int64_t batch = 0, ahead = 0;
  };
  std::vector<Hold> hold_;                          // set up before serving
  std::unique_ptr<std::atomic<bool>[]> training_;   // taken and not yet trained()
  std::unique_ptr<std::atomic<int64_t>[]> collected_;  // steps since the last take
};

}  // namespace tandem::server
