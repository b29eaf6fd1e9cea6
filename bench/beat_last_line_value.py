#!/usr/bin/env python3
"""The best a second player can do against `beat_last` (core/scripted_policy.h) after it opens
in the centre column: an exact expectimax over the second player's moves and beat_last's
random fallbacks (beat_last copies the other player's last column while that column has room,
else plays a uniformly random legal column). Prints the optimal win probability of that line.
Why it matters: beat_last mirrors every move, so with the centre taken first no four can form
(every column alternates the two players from the bottom, the centre one shifted by a row)
until the second player fills the centre column and beat_last's copy is refused; greedy play
that never does so draws in 42 moves (docs/BENCHMARKS.md, "Connect Four self-play league").
usage: bench/beat_last_line_value.py   (pure Python, ~300,000 positions, a few seconds)"""
import functools
import sys

ROWS, COLS = 6, 7
STRIDE = ROWS + 1  # bitboard: one spare bit above each column


def four(bb):
    for s in (1, STRIDE, STRIDE - 1, STRIDE + 1):
        m = bb & (bb >> s)
        if m & (m >> (2 * s)):
            return True
    return False


@functools.lru_cache(maxsize=None)
def value(mine, theirs, heights):
    """Win probability for the player to move (the learner) with best play."""
    best = 0.0
    for c in range(COLS):
        if heights[c] == ROWS:
            continue
        me = mine | 1 << (c * STRIDE + heights[c])
        if four(me):
            return 1.0
        h = list(heights)
        h[c] += 1
        legal = [d for d in range(COLS) if h[d] < ROWS]
        if not legal:
            continue  # board full: a draw
        replies = [c] if h[c] < ROWS else legal  # beat_last: copy, else uniform random
        v = 0.0
        for d in replies:
            them = theirs | 1 << (d * STRIDE + h[d])
            if four(them):
                continue  # a loss
            h2 = h[:]
            h2[d] += 1
            v += value(me, them, tuple(h2))
        best = max(best, v / len(replies))
    return best


def main():
    sys.setrecursionlimit(10000)
    heights = [0] * COLS
    heights[3] = 1
    p = value(0, 1 << (3 * STRIDE), tuple(heights))
    print(f"beat_last opens in the centre, the learner moves second: optimal win probability {p:.4f} "
          f"({value.cache_info().currsize} positions)")


if __name__ == "__main__":
    main()
