#!/usr/bin/env bash
# The main demo: installs what is missing, builds, then trains TWO algorithms at once on ONE
# shared MultiAgentArena simulation: agent1 on a PPO server, agent2 on an A2C server. Prints
# a table of both agents' returns as training goes, stops everything cleanly (also on
# Ctrl-C), and leaves each server's result.json / progress.csv under results/.
# PPO_INFERENCE=local / A2C_INFERENCE=local run that server's policy inside the simulator
# process (local inference) instead of one round trip per step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
source scripts/run_server.sh
rm -rf results/demo_ppo results/demo_a2c
start_server configs/arena_ppo.json results/demo_ppo
PPO_URL=$SERVER_URL
start_server configs/arena_a2c.json results/demo_a2c
A2C_URL=$SERVER_URL
echo "PPO server (agent1): $PPO_URL   A2C server (agent2): $A2C_URL"
echo "one MultiAgentArena simulator process, 4 concurrent episodes, 80k env steps;" \
  "inference: PPO ${PPO_INFERENCE:-remote}, A2C ${A2C_INFERENCE:-remote}"
echo
./build/examples/two_trainers --route "agent1=$PPO_URL" --route "agent2=$A2C_URL" \
  --inference "$PPO_URL=${PPO_INFERENCE:-remote}" --inference "$A2C_URL=${A2C_INFERENCE:-remote}" \
  --concurrent 4 --steps 80000 --report-every 8000
cleanup_servers
trap - EXIT
echo
for s in ppo a2c; do
  echo "results/demo_$s: $(wc -l < results/demo_$s/result.json) training iterations (result.json, progress.csv)"
done
