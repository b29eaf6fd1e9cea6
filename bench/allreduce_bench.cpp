// The replica group's all-reduce (algorithms/replica_group.h: c10d's ProcessGroupGloo) by size:
// the time of one sum() of K floats, for the projection in docs/BENCHMARKS.md. Run one process
// per rank (bench/allreduce.sh starts them): every rank prints nothing but rank 0, which prints
// one line per size: floats, bytes, median and p90 microseconds over the repetitions.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "algorithms/replica_group.h"

int main(int argc, char** argv) {
  CLI::App app{"all-reduce latency of a Tandem replica group, by size"};
  tandem::algo::GroupConfig gc;
  int reps = 200;
  std::vector<int64_t> sizes{1, 16, 256, 4610, 65536, 1 << 20};
  app.add_option("--rank", gc.rank)->required();
  app.add_option("--size", gc.size)->required();
  app.add_option("--master", gc.master)->required();
  app.add_option("--reps", reps);
  app.add_option("--floats", sizes, "sizes to measure (4610: the CartPole [64, 64] actor-critic's gradient)");
  CLI11_PARSE(app, argc, argv);
  gc.host = "127.0.0.1";
  auto group = tandem::algo::ReplicaGroup::join(gc);
  if (gc.rank == 0) std::printf("ranks %d: floats bytes median_us p90_us\n", gc.size);
  for (const int64_t k : sizes) {
    std::vector<float> v(static_cast<size_t>(k), 1.0f);
    for (int i = 0; i < 10; ++i) group->sum(std::span<float>(v));  // warm-up
    std::vector<double> us;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      group->sum(std::span<float>(v));
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    if (gc.rank == 0)
      std::printf("ranks %d: %lld %lld %.1f %.1f\n", gc.size, static_cast<long long>(k), static_cast<long long>(k * 4),
                  us[us.size() / 2], us[us.size() * 9 / 10]);
  }
  group->barrier("done");
  return 0;
}
