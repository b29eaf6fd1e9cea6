#!/usr/bin/env bash
# Benchmark: env steps per second of ONE cartpole_client simulator thread in remote vs local
# inference mode against the same tandem-server.
# usage: bench/local_vs_remote.sh [STEPS_REMOTE] [STEPS_LOCAL]   (defaults: 50000 1000000)
#   1. serving only (--no-train): the cost of getting actions (remote: one round trip per
#      step; local: a forward pass in the simulator's process, uploads in the background);
#   2. while the server trains PPO (configs/cartpole_ppo.json): both modes wait for the
#      learner (backpressure), so this is bounded by training speed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || bash scripts/build.sh
source scripts/run_server.sh
steps_remote=${1:-50000}
steps_local=${2:-1000000}
client=./build/examples/cartpole_client
rate() { awk '/^done:/ {for (i = 1; i <= NF; i++) if ($i == "steps/s") print $(i + 1)}'; }

start_server configs/cartpole_ppo.json results/bench_lvr_serve --no-train
remote=$($client --server "$SERVER_URL" --steps "$steps_remote" --inference remote | rate)
local_=$($client --server "$SERVER_URL" --steps "$steps_local" --inference local | rate)
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
echo "serving only: remote $remote steps/s, local $local_ steps/s, local/remote $(awk -v a="$local_" -v b="$remote" 'BEGIN {printf "%.1f", a / b}')x"

start_server configs/cartpole_ppo.json results/bench_lvr_train_remote --stop-timesteps 0
remote=$($client --server "$SERVER_URL" --steps 100000 --inference remote | rate)
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
start_server configs/cartpole_ppo.json results/bench_lvr_train_local --stop-timesteps 0
local_=$($client --server "$SERVER_URL" --steps 100000 --inference local | rate)
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
echo "while training PPO (100k steps): remote $remote steps/s, local $local_ steps/s"
