#pragma once
// Offline training's data side (config "input", docs/OFFLINE.md).
//
//   load_offline_input(ctx)   at start-up: every trained policy's rows of config.input
//                             (core::read_offline_input) into ctx.offline; throws naming the
//                             file and line, an algorithm that cannot train offline, or a
//                             policy left without rows (tandem-server then exits 2)
//   OfflineSampler::next(n)   each training iteration: whole episode pieces
//                             (algo::offline_segments of every line) in a seeded, shuffled
//                             order until at least n rows, concatenated into one batch; after
//                             the last piece a new epoch reshuffles them
//
// Thread rules: load_offline_input runs in the Server's constructor, before any thread;
// an OfflineSampler belongs to the learner thread.
#include <cstdint>
#include <random>
#include <vector>

#include "core/offline_input.h"

namespace tandem::server {

struct ServerContext;

void load_offline_input(ServerContext& ctx);

class OfflineSampler {
 public:
  // `data` must outlive the sampler (ServerContext::offline does).
  OfflineSampler(const core::OfflineData& data, uint64_t seed, bool shuffle);
  // Whole pieces, at least `rows` rows (fewer only when the data holds fewer).
  core::OfflineBatch next(int64_t rows);
  int64_t epochs() const { return epochs_; }  // full passes over the data begun so far

 private:
  struct Piece {
    size_t batch = 0;  // index in data_.batches
    int64_t begin = 0, end = 0;
  };
  void new_epoch();

  const core::OfflineData& data_;
  std::vector<Piece> pieces_;
  std::vector<size_t> order_;
  size_t next_ = 0;
  bool shuffle_;
  int64_t epochs_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace tandem::server
