#!/usr/bin/env bash
# The in-game item sale end to end (issue 16; the RLlib notebook's MultiAgentArenaWithItemSale),
# every part a real process:
#   (a) price data: a server with `output` (configs/price_data.json) and examples/price_data
#       making OFFERS one-step price offers -> results/price_data/offline/output-*.json
#   (b) the price model trained offline from that data: MARWIL with `input`
#       (configs/price_model_marwil.json) -> results/price_model_marwil/checkpoint_*
#   (c) the price model served over HTTP JSON: a --no-train server restoring that checkpoint
#       with /in-game-recommendations (configs/price_serve.json)
#   (d) agent1 on a PPO server, agent2 on an A2C server (configs/item_sale_{ppo,a2c}.json)
#   (e) examples/item_sale against all three for EPISODES episodes: both agents' returns and
#       how often each bought the item.
# Every server is stopped on exit (also on Ctrl-C or a failed step). Logs: results/demo_item_sale/.
# usage: scripts/demo_item_sale.sh [OFFERS] [EPISODES]   (defaults 4000, 1000)
# PRICES=uniform (default): the offers' prices are drawn uniformly from [0, 100) by the
# simulator and logged (log_action), the data server only writes them (--no-train); every price
# is covered, which an offline learner needs. PRICES=policy: the PPO server names the prices and
# trains while it serves (its raw Gaussian actions start near 0 and may fall outside [0, 100]).
# NO_BUILD=1 skips the set-up and build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_BUILD:-}" ] || bash scripts/build.sh
source scripts/run_server.sh
offers=${1:-4000}
episodes=${2:-1000}
prices=${PRICES:-uniform}
case $prices in uniform | policy) ;; *) echo "demo_item_sale: PRICES must be uniform or policy" >&2; exit 2 ;; esac
out=results/demo_item_sale
# The configs' own paths: price_data.json writes the data where price_model_marwil.json reads it.
rm -rf "$out" results/price_data results/price_model_marwil
mkdir -p "$out"
http_of() { local u=${1/ws:/http:}; echo "${u/wss:/https:}"; }
wait_healthy() {  # URL: waits for GET /healthz
  for _ in $(seq 1 100); do curl -fsS "$(http_of "$1")/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo_item_sale: the server at $1 does not answer /healthz" >&2
  return 1
}

echo "== (a) price data: $offers one-step offers, prices: $prices"
if [ "$prices" = uniform ]; then
  # Logged uniform prices (log_action): nothing to train, the server only writes them.
  start_server configs/price_data.json results/price_data --no-train
else
  start_server configs/price_data.json results/price_data --stop-timesteps "$offers"
fi
wait_healthy "$SERVER_URL"
./build/examples/price_data --server "$SERVER_URL" --episodes "$offers" --prices "$prices" \
  --report-every $((offers / 4 > 0 ? offers / 4 : 1)) | tee "$out/price_data.txt"
if [ "$prices" = policy ]; then
  # PPO stops itself at stop.timesteps_total = OFFERS once the last batch is trained (and
  # written); if OFFERS is not a multiple of train_batch_size it never gets there: 60 s at most.
  for _ in $(seq 1 600); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
fi
kill -TERM "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" || true
data=results/price_data/offline
lines=$(cat "$data"/output-*.json 2>/dev/null | wc -l)
[ "$lines" -gt 0 ] || { echo "demo_item_sale: no offline data in $data" >&2; exit 1; }
echo "offline data: $data, $lines lines ($(ls "$data"/output-*.json | wc -l) file(s))"

echo
echo "== (b) the price model, trained offline with MARWIL from $data"
marwil_log=$out/price_model_marwil.server.log
set +e
./build/policy_server/tandem-server -c configs/price_model_marwil.json --port 0 >"$marwil_log" 2>&1 &
SERVER_PIDS+=($!)
wait $!
rc=$?
set -e
if [ "$rc" != 0 ]; then
  tail -n 5 "$marwil_log" >&2
  if grep -q "'algorithm' must be one of\|unknown key.*input\|'input'" "$marwil_log"; then
    echo "demo_item_sale: step (b) needs offline training (\"algorithm\": \"marwil\" with \"input\"," \
      "docs/OFFLINE.md), which this build of tandem-server does not have yet; stopping here." >&2
  else
    echo "demo_item_sale: the offline training server failed (exit $rc); log: $marwil_log" >&2
  fi
  exit 1
fi
ckpt=$(ls -d results/price_model_marwil/checkpoint_* 2>/dev/null | tail -n 1)
[ -n "$ckpt" ] || { echo "demo_item_sale: MARWIL wrote no checkpoint" >&2; exit 1; }
echo "price model: $ckpt ($(wc -l <results/price_model_marwil/result.json) training iterations)"

echo
echo "== (c) the price model served over HTTP JSON"
start_server configs/price_serve.json "$out/price_serve" --no-train --restore "$ckpt"
wait_healthy "$SERVER_URL"
price_url="$(http_of "$SERVER_URL")/in-game-recommendations"
echo "price service: $price_url; e.g. own return 0, other -10:" \
  "$(curl -fsS -d '{"observation": [0.0, -10.0]}' "$price_url")"

echo
echo "== (d) agent1 on PPO, agent2 on A2C"
start_server configs/item_sale_ppo.json "$out/ppo"
ppo=$SERVER_URL
start_server configs/item_sale_a2c.json "$out/a2c"
a2c=$SERVER_URL
wait_healthy "$ppo"
wait_healthy "$a2c"

echo
echo "== (e) the item-sale arena: $episodes episodes"
./build/examples/item_sale --route "agent1=$ppo" --route "agent2=$a2c" --price-url "$price_url" \
  --episodes "$episodes" --report-every $((episodes / 10 > 0 ? episodes / 10 : 1)) --concurrent 2 \
  | tee "$out/item_sale.txt"
cleanup_servers
trap - EXIT
echo
echo "logs and results: $out/ (the price data in results/price_data, the model in results/price_model_marwil)"
