#!/usr/bin/env bash
# Benchmark: the served price model (issue 16) over HTTP JSON, p50/p99 of
# POST /in-game-recommendations {"observation": [r1, r2]} -> {"action": [price]}, next to a
# WebSocket get_action of the same policy, in one run (bench/http_inference.py). The
# reference's Ray Serve logged 1.2 ms in the handler and 4.0 ms end to end for this call.
# usage: bench/price_service.sh [CHECKPOINT] [N]   (CHECKPOINT: a price model from
# scripts/demo_item_sale.sh, e.g. results/price_model_marwil/checkpoint_000200; without one the
# same [64, 64] model is served with its initial weights: the cost is the same)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || bash scripts/build.sh
source scripts/run_server.sh
out=results/bench_price_service
rm -rf "$out"
mkdir -p results
if [ -n "${1:-}" ]; then
  start_server configs/price_serve.json "$out" --no-train --restore "$1"
else
  start_server configs/price_serve.json "$out" --no-train
fi
PYTHONPATH=build/python /usr/bin/python3 bench/http_inference.py --server "$SERVER_URL" --policy default_policy \
  --route /in-game-recommendations --obs-dim 2 --no-mask --n "${2:-3000}"
