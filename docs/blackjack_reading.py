"""Blackjack: how often a model's thoughts name the player's cards right, by the size of the hand.

    python docs/blackjack_reading.py RUN_DIR [RUN_DIR ...]

Each argument is an episode-log run folder of `vlm-agent eval blackjack` (or `play`). A step counts as
read right when the thoughts' "My cards X, Y, ... make" lists exactly the ranks of the logged hand.
Prints one line per run: its wins, then right/steps for each hand size.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from vlm_agent.runtime.log_reader import iter_episodes

NAMED = re.compile(r"My cards (.*?) make")


def reading_by_hand_size(run: Path) -> tuple[int, int, Counter, Counter]:
    """(wins, episodes, right by hand size, steps by hand size)."""
    right, steps, wins, episodes = Counter(), Counter(), 0, 0
    for episode in iter_episodes([run]):
        episodes += 1
        wins += episode.total_reward > 0
        for row in episode.rows:
            hand = re.findall(r"(\w+) of \w+ \(", row.observation_text.split("Your cards:")[1])
            said = NAMED.search(row.response)
            steps[len(hand)] += 1
            right[len(hand)] += bool(said) and [rank.strip() for rank in said.group(1).split(",")] == hand
    return wins, episodes, right, steps


def main() -> None:
    for run in map(Path, sys.argv[1:]):
        wins, episodes, right, steps = reading_by_hand_size(run)
        sizes = ", ".join(f"{size} cards {right[size]}/{steps[size]}" for size in sorted(steps))
        print(f"{run}: won {wins}/{episodes}; {sizes}")


if __name__ == "__main__":
    main()
