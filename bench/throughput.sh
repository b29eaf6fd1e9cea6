#!/usr/bin/env bash
# Serving throughput of one --no-train tandem-server (CartPole policy), everything in ONE run
# so that the figures compare (this VM's speed drifts by 4x from hour to hour):
#   - a bare Beast WebSocket echo and the lone get_action round trip (p50/p99, rtt_bench);
#   - aggregate env steps/s for 1, 4, 16, 64 concurrent episodes, as threads with a client
#     each (cartpole_client --concurrent N) and as ONE thread stepping N envs with one
#     vectorised frame per step (cartpole_client --envs-per-client N), with the server's mean
#     inference batch (agents per forward pass, from /metrics counters) of each;
#   - K episodes' GetActions pipelined on one raw connection (rtt_bench --pipeline K), with
#     the mean inference batch.
#   bench/throughput.sh [STEPS] [RTT_N]      (defaults 150000 steps per row, 20000 round trips)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/examples/cartpole_client ] || bash scripts/build.sh
source scripts/run_server.sh
STEPS=${1:-150000}
RTT_N=${2:-20000}
start_server configs/cartpole_ppo.json results/bench_throughput --no-train
HTTP=${SERVER_URL/ws:/http:}
./build/bench/rtt_bench --echo-server > results/bench_throughput.echo.log 2>&1 &
SERVER_PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening results/bench_throughput.echo.log && break; sleep 0.05; done
ECHO_URL=$(awk '/listening/{print $3}' results/bench_throughput.echo.log)
echo "== round trip, one client ($RTT_N each)"
./build/bench/rtt_bench --server "$SERVER_URL" --echo "$ECHO_URL" -n "$RTT_N"

counter() { curl -s "$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
row() {  # row LABEL ARGS...: one cartpole_client run, its steps/s and the mean batch
  local label=$1; shift
  local p0 a0 p1 a1 out
  p0=$(counter tandem_inference_passes_total); a0=$(counter tandem_inference_agents_total)
  out=$(./build/examples/cartpole_client --server "$SERVER_URL" --steps "$STEPS" "$@" | tail -n 1)
  p1=$(counter tandem_inference_passes_total); a1=$(counter tandem_inference_agents_total)
  python3 - "$label" "$out" "$p0" "$a0" "$p1" "$a1" <<'PY'
import re, sys
label, out = sys.argv[1], sys.argv[2]
p0, a0, p1, a1 = map(float, sys.argv[3:7])
sps = float(re.search(r"steps/s ([0-9.e+]+)", out).group(1))
batch = (a1 - a0) / (p1 - p0) if p1 > p0 else float("nan")
print(f"{label:<34} {sps:>10.0f} steps/s   mean inference batch {batch:6.2f}")
PY
}
echo "== aggregate throughput, $STEPS env steps per row"
for n in 1 4 16 64; do row "$n episodes: $n threads x 1 env" --concurrent "$n"; done
for n in 1 4 16 64; do row "$n episodes: 1 thread x $n envs" --envs-per-client "$n"; done
echo "== GetActions of K episodes pipelined on ONE raw connection (K frames, then K replies)"
for k in 4 16 64; do
  p0=$(counter tandem_inference_passes_total); a0=$(counter tandem_inference_agents_total)
  out=$(./build/bench/rtt_bench --server "$SERVER_URL" --pipeline "$k" -n $((STEPS / k)))
  p1=$(counter tandem_inference_passes_total); a1=$(counter tandem_inference_agents_total)
  python3 -c "import sys; p0,a0,p1,a1=map(float,sys.argv[2:6]); print(f'{sys.argv[1]:<60} mean inference batch {(a1-a0)/(p1-p0):6.2f}')" "$out" "$p0" "$a0" "$p1" "$a1"
done
