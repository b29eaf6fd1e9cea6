#!/usr/bin/env bash
# The learner at the speed of its arithmetic: Tandem's PPO minibatch step (CartPole network,
# minibatch 256, Adam) next to a minimal LibTorch step of the same network and batch and
# next to the FLOP bound, in one run, with 1 and 2 LibTorch threads.
#   bench/learner.sh [MINIBATCH]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/learner_bench ] || bash scripts/build.sh
mb=${1:-256}
for t in 1 2; do ./build/bench/learner_bench --threads "$t" --minibatch "$mb"; done
