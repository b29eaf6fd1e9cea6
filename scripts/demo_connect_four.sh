#!/usr/bin/env bash
# Connect Four demo: installs what is missing, builds, trains PPO's `learned` in the self-play
# league (configs/connect_four_league.json: the four scripted opponents and its own frozen
# snapshots; the simulator is examples/connect_four), then serves the trained policy and the
# play page (web/connect_four) from a --no-train server and prints the address to open.
# usage: scripts/demo_connect_four.sh [STEPS]   (default 3000000 env steps, a few minutes)
# SERVE_SECONDS=N stops serving after N seconds (default: until Ctrl-C). HOST=0.0.0.0 serves
# the page to other machines (the server then needs --insecure-listen-any: only on a network
# you trust; see docs/SECURITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
source scripts/run_server.sh
steps=${1:-3000000}
out=results/demo_connect_four
rm -rf "$out" "$out".*
start_server configs/connect_four_league.json "$out/train"
echo "training the league on $SERVER_URL: $steps env steps, 4 concurrent games"
./build/examples/connect_four --server "$SERVER_URL" --steps "$steps" --concurrent 4 --report-every $((steps / 10))
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
ckpt=$(ls -d "$out"/train/checkpoint_* | tail -n 1)
python3 - "$out/train/result.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lg = rows[-1]["league"]
print(f"league after {rows[-1]['training_iteration']} iterations: size {lg['size']}, "
      f"{sum(1 for r in rows if r['league']['added'])} snapshots made; members {', '.join(lg['members'])}")
PY
host=${HOST:-127.0.0.1}
extra=()
[ "$host" = 127.0.0.1 ] || extra=(--host "$host" --insecure-listen-any)
start_server configs/connect_four_league.json "$out/serve" --no-train --restore "$ckpt" \
  --static-dir web/connect_four "${extra[@]}"
port=${SERVER_URL##*:}
echo
echo "Play against the trained policy: open http://$host:$port/play/ in a browser (Ctrl-C stops)."
if [ -n "${SERVE_SECONDS:-}" ]; then sleep "$SERVE_SECONDS"; else wait "$SERVER_PID"; fi
