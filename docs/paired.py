"""Two evaluation runs of the same seeds (or games), compared seed by seed: the exact McNemar test.

    python docs/paired.py A_RUN_DIR B_RUN_DIR

Each argument is an episode-log run folder of `vlm-agent eval` or `play` (`<log-dir>/<run id>`).
Episodes are matched by their reset seed (card games: the deal; ALFWorld: the game), and the test
counts the seeds won by one run only. Prints one line: n, each run's wins, the discordant counts and
the two-sided exact p.
"""
from __future__ import annotations

import sys
from math import comb
from pathlib import Path

from vlm_agent.runtime.log_reader import iter_episodes


def wins_by_seed(run: Path) -> dict[int, bool]:
    """Reset seed -> whether that episode succeeded."""
    return {episode.rows[0].episode_seed: any(row.success for row in episode.rows) for episode in iter_episodes([run])}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p: the discordant seeds as a fair coin's flips."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare(a: dict[int, bool], b: dict[int, bool]) -> str:
    common = sorted(set(a) & set(b))
    only_a = sum(a[s] and not b[s] for s in common)
    only_b = sum(b[s] and not a[s] for s in common)
    return (f"n={len(common)} A won {sum(a[s] for s in common)}, B won {sum(b[s] for s in common)}; "
            f"A only {only_a}, B only {only_b}; exact McNemar p = {mcnemar_exact(only_a, only_b):.3g}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not all(Path(p).is_dir() for p in sys.argv[1:]):
        sys.exit("usage: python docs/paired.py A_RUN_DIR B_RUN_DIR (two run folders of episode logs)")
    print(compare(wins_by_seed(Path(sys.argv[1])), wins_by_seed(Path(sys.argv[2]))))
