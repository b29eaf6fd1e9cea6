#!/usr/bin/env python3
"""Plays the greedy policy of a running tandem-server (HTTP JSON inference) against a replica
of the `beat_last` script (core/scripted_policy.h: the column the other player played last
if legal, else a random legal one) from each of its seven first moves, in both seats, and
prints each game's outcome and moves. Greedy play against beat_last is deterministic but for
beat_last's first move (and its random fallback), so these 14 games show which lines the
policy fails to win.
usage: bench/beat_last_lines.py URL [--policy learned] [--seed 1]   (URL: http://HOST:PORT)"""
import argparse
import json
import random
import urllib.request

ROWS, COLS = 6, 7


def observation(board, me):
    """6x7x2 planes flattened as (row*7+col)*2+plane: plane 0 = me, plane 1 = the other."""
    out = []
    for r in range(ROWS):
        for c in range(COLS):
            out += [1.0 if board[r][c] == me else 0.0, 1.0 if board[r][c] == 1 - me else 0.0]
    return out


def drop(board, c, p):
    for r in range(ROWS - 1, -1, -1):
        if board[r][c] < 0:
            board[r][c] = p
            return


def wins(board, p):
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                if all(0 <= r + k * dr < ROWS and 0 <= c + k * dc < COLS and board[r + k * dr][c + k * dc] == p
                       for k in range(4)):
                    return True
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--policy", default="learned")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)

    def act(board, me):
        mask = [1.0 if board[0][c] < 0 else 0.0 for c in range(COLS)]
        body = json.dumps({"observations": [observation(board, me)], "action_masks": [mask], "explore": False})
        req = urllib.request.Request(f"{a.url}/v1/policies/{a.policy}/actions", body.encode(),
                                     {"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=10).read())["actions"][0]

    outcomes = {}
    for seat in (0, 1):
        for opening in range(COLS):
            board = [[-1] * COLS for _ in range(ROWS)]
            last, to, outcome, moves = {0: -1, 1: -1}, 0, "draw", []
            for n in range(ROWS * COLS):
                legal = [c for c in range(COLS) if board[0][c] < 0]
                if to == seat:
                    c = act(board, to)
                elif last[1 - to] in legal:
                    c = last[1 - to]
                else:
                    c = opening if n == 0 else rng.choice(legal)
                drop(board, c, to)
                last[to] = c
                moves.append(c)
                if wins(board, to):
                    outcome = "win" if to == seat else "loss"
                    break
                to = 1 - to
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print(f"{a.policy} moves {'first ' if seat == 0 else 'second'}  beat_last opens "
                  f"{'-' if seat == 0 else opening}  {outcome:4s}  {len(moves):2d} moves: {moves}")
    print(outcomes)


if __name__ == "__main__":
    main()
