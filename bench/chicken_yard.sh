#!/usr/bin/env bash
# Benchmark: the hierarchical robots-and-chickens yard (issue 15). Trains for STEPS env steps,
# then runs EVAL greedy episodes (explore=false, never trained on) and prints the figures:
#   high level: mean personality match of the chosen chicken against a uniform choice (the
#               mean over the chickens) and the best choice, per robot-episode, and how far of
#               the way from random to best it is;
#   low level:  moves made against the moves of a straight line to the chosen chicken (summed
#               over robot-episodes; a robot that does not arrive counts its moves too);
#   the env steps and the wall time of training.
# usage: bench/chicken_yard.sh [STEPS] [SEED]        (defaults: 6000000 1)
# VARIANT=one   both levels on one PPO server (configs/chicken_yard_ppo.json; the default)
# VARIANT=split the high level on a PPO server, the low level on an A2C server
#               (configs/chicken_yard_high_ppo.json, configs/chicken_yard_low_a2c.json)
# CONCURRENT=N simulator threads (default 4), INFERENCE=remote|local (default remote),
# EVAL=N evaluation episodes (default 1000).
# Writes OUT/episode.svg (one greedy episode), OUT/reward_<policy>.png and OUT/episode_len.png
# (tandem-plot learning curves), OUT/example.txt; OUT=results/bench_chicken_yard_<variant>_seed<SEED>.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/examples/chicken_yard ] || bash scripts/build.sh
source scripts/run_server.sh
steps=${1:-6000000}
seed=${2:-1}
variant=${VARIANT:-one}
out=results/bench_chicken_yard_${variant}_seed$seed
rm -rf "$out"
mkdir -p "$out"
case "$variant" in
  one)
    start_server configs/chicken_yard_ppo.json "$out/server" --seed "$seed"
    routes=(--server "$SERVER_URL")
    dirs=("$out/server:high_level_policy" "$out/server:low_level_policy") ;;
  split)
    start_server configs/chicken_yard_high_ppo.json "$out/high_ppo" --seed "$seed"
    high=$SERVER_URL
    start_server configs/chicken_yard_low_a2c.json "$out/low_a2c" --seed "$seed"
    routes=(--route "high=$high" --route "low=$SERVER_URL")
    dirs=("$out/high_ppo:high_level_policy" "$out/low_a2c:low_level_policy") ;;
  *) echo "bench/chicken_yard.sh: VARIANT must be one or split" >&2; exit 2 ;;
esac
./build/examples/chicken_yard "${routes[@]}" --steps "$steps" --seed "$seed" \
  --concurrent "${CONCURRENT:-4}" --inference "${INFERENCE:-remote}" --report-every $((steps / 10)) \
  --eval-episodes "${EVAL:-1000}" --svg "$out/episode.svg" | tee "$out/example.txt"
cleanup_servers
SERVER_PIDS=()
# Learning curves per policy (tandem-plot reads each results directory's progress.csv).
for d in "${dirs[@]}"; do
  dir=${d%%:*} policy=${d##*:}
  scripts/tandem-plot "$dir" -o "$out/reward_$policy.png" --metric "policy_reward_mean/$policy" \
    --title "$policy: mean return per episode ($variant)"
done
# Episode length as the low level counts it (the high server sees one step per episode).
scripts/tandem-plot "${dirs[1]%%:*}" -o "$out/episode_len.png" --metric episode_len_mean \
  --title "episode length (env steps), $variant"
echo "wrote $out/episode.svg, $out/reward_*.png, $out/episode_len.png"
