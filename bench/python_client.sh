#!/usr/bin/env bash
# The Python client beside the C++ client and a bare Beast echo, in one run (one tandem-server
# serving, --no-train, the CartPole config):
#   C++: rtt_bench (Beast echo p50/p99, C++ get_action p50/p99, a simulator's step of
#   get_action + log_returns p50/p99)
#   Python: echo through websocket-client, get_action and step p50/p99 (with the servers on
#   CPU 0 and the clients pinned to the same CPU and then another), then, unpinned,
#   local-mode CartPole steps/s on one thread and 64 vectorised CartPoles in one process
#   (bench/python_client.py).
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
# Placement decides the round trip on this VM more than anything: a client on the server's
# CPU hands over by a context switch (C++ get_action ~14 us), a client on another CPU wakes an
# idle one (~75 us). The "phases" of earlier runs were the scheduler's choice between the two.
# So both are measured, pinned with taskset: the servers on CPU 0, the clients on CPU 0 (same)
# or CPU 1 (other); the throughput runs below are not pinned.
# Rounds alternate C++ (echo + get_action) and Python (echo + get_action); each prints its
# Python/C++ ratio.
ROUNDS=${ROUNDS:-5}
# THINK=US (default 20): each placement runs back to back round trips and with US of busy
# work after each (a simulator's step).
THINK=${THINK:-20}
CPUS=(0)
[ "$(nproc)" -ge 2 ] && CPUS=(0 1)
ECHO_PID=${SERVER_PIDS[-1]}
for r in $(seq 1 "$ROUNDS"); do
 taskset -a -p -c 0 "$SERVER_PID" > /dev/null
 taskset -a -p -c 0 "$ECHO_PID" > /dev/null
 for cpu in "${CPUS[@]}"; do
  where=$([ "$cpu" = 0 ] && echo "same CPU" || echo "other CPU")
  for t in 0 "$THINK"; do
   cpp=$(taskset -c "$cpu" ./build/bench/rtt_bench --server "$SERVER_URL" --echo "$ECHO_URL" -n "$N" --think-us "$t")
   py=$(PYTHONPATH=build/python taskset -c "$cpu" "$PY" bench/python_client.py --server "$SERVER_URL" --echo "$ECHO_URL" -n "$N" --only echo,remote --think-us "$t")
   echo "== round $r, client on the $where as the servers, think time $t us"
   echo "$cpp"
   echo "$py"
   c50=$(echo "$cpp" | awk '/^get_action/{print $5}')
   p50=$(echo "$py" | awk '/get_action/{print $6}')
   echo "$c50 $p50" | awk -v t="$t" -v w="$where" '{printf "round get_action p50 (%s, think %s us): python / C++ = %.2f\n", w, t, $2 / $1}'
   c50=$(echo "$cpp" | awk '/^step\+returns/{print $5}')
   p50=$(echo "$py" | awk '/step\+returns/{print $6}')
   echo "$c50 $p50" | awk -v t="$t" -v w="$where" '{printf "round step+returns p50 (%s, think %s us): python / C++ = %.2f\n", w, t, $2 / $1}'
  done
 done
done
all=$(seq -s, 0 $(($(nproc) - 1)))
taskset -a -p -c "$all" "$SERVER_PID" > /dev/null
echo "== Python throughput (bench/python_client.py)"
PYTHONPATH=build/python "$PY" bench/python_client.py --server "$SERVER_URL" --only loop,local,vector
