#!/usr/bin/env bash
# Benchmark: PPO's `learned` policy on Connect Four (examples/connect_four, sims/connect_four)
# against one scripted opponent served by the server, then greedy evaluation against each of
# the four scripted opponents (the trained weights restored into a --no-train server whose
# policy_mapping seats that opponent).
# usage: bench/connect_four.sh [TRAIN_OPPONENT] [STEPS] [SEED]   (defaults: random 300000 1)
# CONCURRENT=N games at once (default 4); INFERENCE=remote|local for training (default
# remote); EVAL_GAMES (default 400). `learned` always plays player_0 (moves first): the
# seat is fixed by policy_mapping until the league (issue 14) assigns seats per episode.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/examples/connect_four ] || bash scripts/build.sh
source scripts/run_server.sh
train_opp=${1:-random}
steps=${2:-300000}
seed=${3:-1}
concurrent=${CONCURRENT:-4}
inference=${INFERENCE:-remote}
eval_games=${EVAL_GAMES:-400}
out=results/bench_connect_four_${train_opp}_seed$seed
rm -rf "$out" "$out".*
mkdir -p "$out"
with_opponent() {  # with_opponent OPPONENT OUT_FILE: the config with player_1 -> OPPONENT
  python3 -c "import json,sys; j=json.load(open('configs/connect_four_ppo.json')); j['policy_mapping']['player_1']=sys.argv[1]; j['checkpoint_at_end']=True; json.dump(j,open(sys.argv[2],'w'))" "$1" "$2"
}
with_opponent "$train_opp" "$out.train.json"
start_server "$out.train.json" "$out/train" --seed "$seed"
start=$(date +%s.%N)
./build/examples/connect_four --server "$SERVER_URL" --steps "$steps" --concurrent "$concurrent" \
  --inference "$inference" --report-every $((steps / 10)) | tee "$out/train.txt"
train_s=$(echo "$(date +%s.%N) - $start" | bc)
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
ckpt=$(ls -d "$out"/train/checkpoint_* | tail -n 1)
echo "trained $steps env steps against $train_opp in ${train_s} s (simulator wall time); checkpoint $ckpt"
printf '%-12s %7s %7s %7s %7s\n' opponent games won drawn lost
for opp in random always_same linear beat_last; do
  with_opponent "$opp" "$out.eval_$opp.json"
  start_server "$out.eval_$opp.json" "$out/eval_$opp" --no-train --restore "$ckpt"
  line=$(./build/examples/connect_four --server "$SERVER_URL" --games "$eval_games" --steps 100000000 --concurrent 1 --eval \
         --report-every 100000000 | tail -n 1)
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
  # "games G env_steps S wall_s W player_0 won A drew B lost C"
  echo "$line" | awk -v o="$opp" '{printf "%-12s %7d %7d %7d %7d   win rate %.3f\n", o, $2, $9, $11, $13, $9 / $2}'
done
