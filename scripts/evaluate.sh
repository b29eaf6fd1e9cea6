#!/usr/bin/env bash
# Evaluates a CartPole checkpoint: restores it in a tandem-server that does not train
# (--no-train), runs EPISODES evaluation episodes (greedy actions, training_enabled=false)
# with cartpole_client --eval, and prints the mean evaluation return as the client saw it
# and as the server reported it (result.json / progress.csv rows under `evaluation`).
# usage: scripts/evaluate.sh CHECKPOINT_DIR [CONFIG] [EPISODES]
#        (defaults: configs/cartpole_ppo.json, 20 episodes)
# The server's results go to CHECKPOINT_DIR/../eval_<checkpoint name>, never over the
# training run's own result.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ ! -f "${1%/}/state.json" ]; then
  echo "usage: scripts/evaluate.sh CHECKPOINT_DIR [CONFIG] [EPISODES]  (CHECKPOINT_DIR holds state.json)" >&2
  exit 2
fi
ckpt=${1%/}
config=${2:-configs/cartpole_ppo.json}
episodes=${3:-20}
[ -x build/policy_server/tandem-server ] && [ -x build/examples/cartpole_client ] || bash scripts/build.sh
source scripts/run_server.sh
out="$(dirname "$ckpt")/eval_$(basename "$ckpt")"
rm -rf "$out"
start_server "$config" "$out" --restore "$ckpt" --no-train
echo "server $SERVER_URL restored $ckpt (no training); results in $out"
./build/examples/cartpole_client --server "$SERVER_URL" --eval --episodes "$episodes" | tail -n 1
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
# Server side: evaluation episodes and their mean return, weighted over the rows.
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { m = $col["evaluation/episode_reward_mean"]; n = $col["evaluation/episodes_this_iter"];
    if (n != "") { sum += m * n; cnt += n } }
  END { if (cnt) printf "server: %d evaluation episodes, mean return %.2f\n", cnt, sum / cnt;
        else { print "server: no evaluation row written" > "/dev/stderr"; exit 1 } }' "$out/progress.csv"
