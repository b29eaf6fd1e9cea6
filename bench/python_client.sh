#!/usr/bin/env bash
# The Python client beside the C++ client and a bare Beast echo, in one run (one tandem-server
# serving, --no-train, the CartPole config):
#   C++: rtt_bench (Beast echo p50/p99, C++ get_action p50/p99)
#   Python: echo through websocket-client, get_action p50/p99, local-mode CartPole steps/s on
#   one thread, 64 vectorised CartPoles in one process (bench/python_client.py).
#   bench/python_client.sh [N]   (ROUNDS=5 rounds of N round trips each)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/rtt_bench ] || bash scripts/build.sh
source scripts/run_server.sh
N=${1:-20000}
PY=${TANDEM_PYTHON:-/usr/bin/python3}
start_server configs/cartpole_ppo.json results/bench_python --no-train
./build/bench/rtt_bench --echo-server > results/bench_python.echo.log 2>&1 &
SERVER_PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening results/bench_python.echo.log && break; sleep 0.05; done
ECHO_URL=$(awk '/listening/{print $3}' results/bench_python.echo.log)
# The VM's speed changes from minute to minute: the round trips are measured in ROUNDS
# alternating rounds (C++ echo + get_action, then Python echo + get_action), and each round's
# Python/C++ ratio is printed next to the figures.
ROUNDS=${ROUNDS:-5}
# THINK=US (default 20): each round runs twice, back to back round trips and with US of busy
# work after each (a simulator's step): on this VM a server thread that slept between two
# requests takes ~100 us to wake, which a client answering within a few us never sees.
THINK=${THINK:-20}
for r in $(seq 1 "$ROUNDS"); do
 for t in 0 "$THINK"; do
  cpp=$(./build/bench/rtt_bench --server "$SERVER_URL" --echo "$ECHO_URL" -n "$N" --think-us "$t")
  py=$(PYTHONPATH=build/python "$PY" bench/python_client.py --server "$SERVER_URL" --echo "$ECHO_URL" -n "$N" --only echo,remote --think-us "$t")
  echo "== round $r, think time $t us"
  echo "$cpp"
  echo "$py"
  c50=$(echo "$cpp" | awk '/^get_action/{print $5}')
  p50=$(echo "$py" | awk '/get_action/{print $6}')
  echo "$c50 $p50" | awk -v t="$t" '{printf "round get_action p50 (think %s us): python / C++ = %.2f\n", t, $2 / $1}'
 done
done
echo "== Python throughput (bench/python_client.py)"
PYTHONPATH=build/python "$PY" bench/python_client.py --server "$SERVER_URL" --only loop,local,vector
