#!/usr/bin/env bash
# Single-client get_action round trip (p50, p99) next to a plain Beast WebSocket echo,
# both servers in their own processes, measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/rtt_bench ] || bash scripts/build.sh
source scripts/run_server.sh
start_server configs/cartpole_ppo.json results/bench_rtt --no-train
./build/bench/rtt_bench --echo-server > results/bench_rtt.echo.log 2>&1 &
SERVER_PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening results/bench_rtt.echo.log && break; sleep 0.05; done
ECHO_URL=$(awk '/listening/{print $3}' results/bench_rtt.echo.log)
./build/bench/rtt_bench --server "$SERVER_URL" --echo "$ECHO_URL" -n "${1:-20000}"
