#!/usr/bin/env bash
# Benchmark: HTTP JSON inference p50/p99 next to a WebSocket get_action (bench/http_inference.py),
# on a --no-train server with configs/connect_four_ppo.json (the learned policy, [128, 128]).
# usage: bench/http_inference.sh [N]   (default 3000 requests per path)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || bash scripts/build.sh
source scripts/run_server.sh
out=results/bench_http_inference
rm -rf "$out"
mkdir -p results
python3 -c "import json,sys; j=json.load(open('configs/connect_four_ppo.json')); j['policy_mapping']['agent0']='learned'; json.dump(j,open(sys.argv[1],'w'))" "$out.config.json"
start_server "$out.config.json" "$out" --no-train
PYTHONPATH=build/python /usr/bin/python3 bench/http_inference.py --server "$SERVER_URL" --n "${1:-3000}"
