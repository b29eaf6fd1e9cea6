#!/usr/bin/env bash
# The item-sale example end to end (issue 16), steps (d)-(e) of scripts/demo_item_sale.sh with
# real processes: agent1 on a PPO server, agent2 on an A2C server (the repository's configs),
# the price from an untrained price model served over HTTP JSON by a --no-train server
# (configs/price_serve.json with algorithm ppo, behind a bearer token). Checks the example's
# rows, summary, exit code and custom metrics, and that it exits non-zero with a message when
# the price service is dead or refuses it (no token).
# usage: item_sale_example_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
out=$build/test_results/item_sale_example
rm -rf "$out"
mkdir -p "$out"
SERVER_PIDS=()
cleanup() { for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT
start() {  # CONFIG NAME [flags...]: sets URL
  local config=$1 log=$out/$2.log name=$2
  shift 2
  "$build/policy_server/tandem-server" -c "$config" --port 0 --results-dir "$out/$name" "$@" >"$log" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 1 200); do grep -q '^listening on' "$log" && break; sleep 0.05; done
  URL=$(grep -m1 '^listening on' "$log" | awk '{print $3}')
  [ -n "$URL" ] || { cat "$log"; exit 1; }
}
fail() { echo "FAIL: $*" >&2; exit 1; }

# The price service: an untrained model with the price spaces on the configured path.
python3 - "$out/price_serve_ppo.json" <<'PY'
import json, sys
c = json.load(open("configs/price_serve.json"))
c["algorithm"] = "ppo"  # untrained and never trained: any algorithm with these spaces serves
json.dump(c, open(sys.argv[1], "w"))
PY
printf 'item-sale-test-token-0123456789\n' >"$out/token"
start "$out/price_serve_ppo.json" price --no-train --auth-token-file "$out/token"
price_url="${URL/ws:/http:}/in-game-recommendations"
start configs/item_sale_ppo.json ppo
ppo=$URL
start configs/item_sale_a2c.json a2c
a2c=$URL

# 20 episodes of 100 steps: 2000 steps, two PPO iterations (train_batch_size 1000).
"$build/examples/item_sale" --route "agent1=$ppo" --route "agent2=$a2c" --price-url "$price_url" \
  --price-token-file "$out/token" --episodes 20 --report-every 10 | tee "$out/run.txt"
grep -q 'agent1_bought%' "$out/run.txt" || fail "no header"
[ "$(grep -cE '^ +(10|20) ' "$out/run.txt")" = 2 ] || fail "not two report rows"
grep -qE '^done: 20 episodes, 2000 env steps, .*; mean return agent1 -?[0-9.]+ agent2 -?[0-9.]+; bought agent1 [0-9.]+% agent2 [0-9.]+%' \
  "$out/run.txt" || fail "no summary line"
# The sale's custom metrics reach the servers' results (PPO trains after 1000 steps).
for _ in $(seq 1 100); do grep -q 'agent1_bought_mean' "$out/ppo/result.json" 2>/dev/null && break; sleep 0.1; done
grep -q 'agent1_price_paid_mean' "$out/ppo/result.json" || fail "no sale metrics in the PPO server's results"

# The price service refuses a client without the token: exit 1 with the HTTP status.
set +e
"$build/examples/item_sale" --route "agent1=$ppo" --route "agent2=$a2c" --price-url "$price_url" \
  --episodes 1 2>"$out/no_token.txt"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'the price service failed: .*answered HTTP 401' "$out/no_token.txt" \
  || { cat "$out/no_token.txt"; fail "a refused price request did not fail the run (rc $rc)"; }

# A dead price service: a port nobody listens on.
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set +e
"$build/examples/item_sale" --route "agent1=$ppo" --route "agent2=$a2c" \
  --price-url "http://127.0.0.1:$dead/in-game-recommendations" --price-timeout 2 --episodes 1 2>"$out/dead.txt"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'the price service failed: .*could not connect' "$out/dead.txt" \
  || { cat "$out/dead.txt"; fail "a dead price service did not fail the run (rc $rc)"; }

# A URL that is not http://HOST:PORT/PATH is refused before any episode (exit 2).
set +e
"$build/examples/item_sale" --route "agent1=$ppo" --route "agent2=$a2c" --price-url "ws://127.0.0.1:1" \
  --episodes 1 2>"$out/bad_url.txt"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'must look like http://HOST:PORT/PATH' "$out/bad_url.txt" || fail "bad URL not refused (rc $rc)"
echo "item_sale example: 20 episodes on PPO + A2C with an HTTP price service; failures reported"
