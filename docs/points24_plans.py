"""Points24: where a model's games are lost, from its first thought to its last key.

    python docs/points24_plans.py RUN_DIR [RUN_DIR ...] [--train LOG_DIR ...]

Each RUN_DIR is an episode-log run folder of `vlm-agent eval points24` (or `play`). For each deal:
is it solvable; did the first step's thoughts list the sorted card values right; was its plan a
formula of exactly those values that makes 24; did the game end won. A deal whose plan was right
but which was lost was lost in the typing (the formula read wrong from the frame, a key pressed
twice, a missing ")"). With --train, the plans are also counted by how many games of the same
multiset of values the training logs hold (the expert's plans follow the multiset: one per
multiset to learn).
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from vlm_agent.envs.arithmetic import evaluate, solutions
from vlm_agent.runtime.log_reader import iter_episodes

PLAN = re.compile(r"Sorted: ([\d, ]+)\. Plan: ([^=]+)=")


def values_of(observation: str) -> tuple[int, ...]:
    """The deal's card values, largest first, from the logged text state ("Q of clubs (10), ...")."""
    return tuple(sorted((int(v) for v in re.findall(r"\((\d+)\)", observation.split("Formula:")[0])), reverse=True))


def evaluates_to_24(plan: str, values: tuple[int, ...]) -> bool:
    """Whether `plan` uses exactly `values` and equals 24 (the environment's own exact evaluator)."""
    tokens = plan.split()
    return sorted(int(t) for t in tokens if t.isdigit()) == sorted(values) and evaluate(tokens) == 24


def multiset_counts(paths: list[Path]) -> Counter:
    """Games per multiset of card values in Points24 training logs."""
    counts = Counter()
    for episode in iter_episodes(paths):
        if episode.rows and episode.rows[0].task_type == "points24":
            counts[values_of(episode.rows[0].observation_text)] += 1
    return counts


def plans(run: Path, seen: Counter | None) -> tuple[Counter, Counter]:
    """(totals, plan-right by times seen in training) of one run."""
    totals, by_seen = Counter(), Counter()
    for episode in iter_episodes([run]):
        values = values_of(episode.rows[0].observation_text)
        solvable = bool(solutions(list(values), 24))
        said = PLAN.search(episode.rows[0].response)
        read = bool(said) and tuple(int(v) for v in said.group(1).split(",")) == values
        right = bool(said) and evaluates_to_24(said.group(2), values)
        won = episode.total_reward > 0
        totals.update(deals=1, solvable=solvable, read=read, plan_right=right, won=won, lost_typing=right and not won)
        if seen is not None and solvable:
            bucket = "never" if not seen[values] else "1-3 times" if seen[values] <= 3 else "4+ times"
            by_seen[bucket, "deals"] += 1
            by_seen[bucket, "plan right"] += right
    return totals, by_seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--train", nargs="*", type=Path, default=None, help="training log folders")
    args = parser.parse_args()
    seen = multiset_counts(args.train) if args.train else None
    for run in args.runs:
        totals, by_seen = plans(run, seen)
        print(f"{run}: {totals['deals']} deals, {totals['solvable']} solvable; cards read right {totals['read']}, "
              f"plan makes 24 {totals['plan_right']}, won {totals['won']}; right plans lost in the typing {totals['lost_typing']}")
        for bucket in ("never", "1-3 times", "4+ times"):
            if by_seen[bucket, "deals"]:
                print(f"  solvable multisets seen {bucket} in training: plan right {by_seen[bucket, 'plan right']}/{by_seen[bucket, 'deals']}")


if __name__ == "__main__":
    main()
