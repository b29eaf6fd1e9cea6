#!/usr/bin/env bash
# The replica group's all-reduce (c10d ProcessGroupGloo over loopback TCP) by size, for N ranks
# as N processes on this machine. usage: bench/allreduce.sh [N] [REPS]   (defaults: 2 200)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2}
reps=${2:-200}
[ -x build/bench/allreduce_bench ] || cmake --build build --target allreduce_bench -j2 >/dev/null
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
pids=()
for r in $(seq 1 $((n - 1))); do
  ./build/bench/allreduce_bench --rank "$r" --size "$n" --master "127.0.0.1:$port" --reps "$reps" &
  pids+=($!)
done
./build/bench/allreduce_bench --rank 0 --size "$n" --master "127.0.0.1:$port" --reps "$reps"
for p in "${pids[@]}"; do wait "$p"; done
