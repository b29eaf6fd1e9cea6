#!/usr/bin/env bash
# Benchmark: the self-play league on Connect Four (configs/connect_four_league.json). PPO's
# `learned` trains in a league of the four scripted opponents and its own frozen snapshots
# (the server seats every game: a random seat for `learned`, a random member opposite); one
# extra simulator plays greedy evaluation games alongside (never trained on: a round robin of
# the scripted opponents x both seats), which gives the curve. Then the last checkpoint is
# restored into a --no-train server and plays EVAL_GAMES greedy games against each scripted
# opponent, seats alternating (the league's evaluation round robin).
# usage: bench/connect_four_league.sh [STEPS] [SEED]   (defaults: 6000000 1)
# CONCURRENT=N training games at once (default 4); EVAL_GAMES per opponent (default 400);
# CONFIG=FILE another server config (default configs/connect_four_league.json); EVAL_DURING=0
# skips the evaluation games alongside training (no curve, all the machine for training).
# Prints the training time, the league and the evaluation table; writes OUT/curve.png
# (greedy win rate per opponent against env steps) and OUT/report.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/examples/connect_four ] || bash scripts/build.sh
source scripts/run_server.sh
steps=${1:-6000000}
seed=${2:-1}
concurrent=${CONCURRENT:-4}
eval_games=${EVAL_GAMES:-400}
config=${CONFIG:-configs/connect_four_league.json}
out=results/bench_connect_four_league_seed$seed
rm -rf "$out" "$out".*
mkdir -p "$out"
start_server "$config" "$out/train" --seed "$seed"
train_pid=$SERVER_PID
eval_pid=
if [ "${EVAL_DURING:-1}" != 0 ]; then
  ./build/examples/connect_four --server "$SERVER_URL" --steps 1000000000 --concurrent 1 --eval \
    --report-every 1000000000 >"$out/eval_during_training.txt" &
  eval_pid=$!
fi
start=$(date +%s.%N)
./build/examples/connect_four --server "$SERVER_URL" --steps "$steps" --concurrent "$concurrent" \
  --report-every $((steps / 10)) | tee "$out/train.txt"
train_s=$(echo "$(date +%s.%N) - $start" | bc)
if [ -n "$eval_pid" ]; then kill -TERM "$eval_pid" 2>/dev/null || true; wait "$eval_pid" 2>/dev/null || true; fi
kill -TERM "$train_pid"; wait "$train_pid" || true
ckpt=$(ls -d "$out"/train/checkpoint_* | tail -n 1)
echo "trained $steps env steps in ${train_s} s (simulator wall time, evaluation games alongside); checkpoint $ckpt"
# Final greedy evaluation: the league's round robin gives each evaluation opponent the same
# number of games, half in each seat.
start_server "$config" "$out/eval" --no-train --restore "$ckpt"
./build/examples/connect_four --server "$SERVER_URL" --games $((eval_games * 4)) --steps 1000000000 \
  --concurrent 1 --eval --report-every 1000000000 | tail -n 1
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
python3 bench/league_report.py "$out" --train-seconds "$train_s" --train-steps "$steps"
