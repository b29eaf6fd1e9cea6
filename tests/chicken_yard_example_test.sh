#!/usr/bin/env bash
# The chicken yard example end to end, as a user runs it: real tandem-server processes with
# the repository's configs (Dict spaces, pattern mapping), the example sending named
# components. (1) both levels on one PPO server, remote; (2) the high level on a PPO server
# and the low level on an A2C server, the low one in local inference. Each trains a little,
# evaluates greedily, writes an SVG, and the servers see exactly their own agents.
# usage: chicken_yard_example_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
out=$build/test_results/chicken_yard_example
rm -rf "$out"
mkdir -p "$out"
SERVER_PIDS=()
cleanup() { for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT
start() {  # CONFIG NAME: sets URL
  local log=$out/$2.log
  "$build/policy_server/tandem-server" -c "$1" --port 0 --results-dir "$out/$2" >"$log" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 1 200); do grep -q '^listening on' "$log" && break; sleep 0.05; done
  URL=$(grep -m1 '^listening on' "$log" | awk '{print $3}')
  [ -n "$URL" ] || { cat "$log"; exit 1; }
}
fail() { echo "FAIL: $*" >&2; exit 1; }

start configs/chicken_yard_ppo.json one
"$build/examples/chicken_yard" --server "$URL" --steps 3000 --concurrent 2 --eval-episodes 20 \
  --report-every 1000 --svg "$out/one.svg" | tee "$out/one.txt"
grep -q '^training: 3' "$out/one.txt" || fail "no training line"
grep -q '^evaluation (greedy): 40 robot-episodes' "$out/one.txt" || fail "no evaluation line"
grep -q '<polyline' "$out/one.svg" || fail "no SVG paths"
curl -fsS "${URL/ws:/http:}/metrics" >"$out/one.metrics"
grep -q '^tandem_policy_reward_mean{policy="high_level_policy"}' "$out/one.metrics" || fail "no high-level return"
grep -q '^tandem_policy_reward_mean{policy="low_level_policy"}' "$out/one.metrics" || fail "no low-level return"

start configs/chicken_yard_high_ppo.json high
high=$URL
start configs/chicken_yard_low_a2c.json low
"$build/examples/chicken_yard" --route "high=$high" --route "low=$URL" --inference "$URL=local" \
  --steps 3000 --concurrent 2 --eval-episodes 10 --report-every 1000 | tee "$out/split.txt"
grep -q '^evaluation (greedy): 20 robot-episodes' "$out/split.txt" || fail "no evaluation line (split)"
curl -fsS "${high/ws:/http:}/metrics" >"$out/high.metrics"
curl -fsS "${URL/ws:/http:}/metrics" >"$out/low.metrics"
# Each server knows its own level only; the high one sees one agent step per robot-episode.
grep -q 'policy="high_level_policy"' "$out/high.metrics" || fail "high server: no high policy"
if grep -q 'policy="low_level_policy"' "$out/high.metrics"; then fail "high server saw the low level"; fi
grep -q 'policy="low_level_policy"' "$out/low.metrics" || fail "low server: no low policy"
if grep -q 'policy="high_level_policy"' "$out/low.metrics"; then fail "low server saw the high level"; fi
# An unknown --route level is refused with a message and exit 2.
set +e
"$build/examples/chicken_yard" --route "middle=$URL" --steps 10 2>"$out/bad.txt"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "must be high=URL or low=URL" "$out/bad.txt" || fail "bad --route not refused (rc $rc)"
echo "chicken_yard example: both variants trained, evaluated and drew an episode"
