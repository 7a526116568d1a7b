"""Count where objects lie in a split's initial states and write the teacher's search prior.

    ALFWORLD_DATA=../shared/alfworld .venv/bin/python benchmarks/alfworld_prior.py [--split valid_train] [--out FILE]

The shipped prior (envs/alfworld/search_prior.json) is counted from `valid_train` (200 games).
Counting from an evaluation split (valid_seen, valid_unseen) is refused: the teacher must not learn
from the games it is measured on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from vlm_agent.envs.alfworld.search_prior import PRIOR_FILE, count_split
from vlm_agent.envs.alfworld.engine.games import data_root, find_games

EVALUATION_SPLITS = ("valid_seen", "valid_unseen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="valid_train")
    parser.add_argument("--data", default=None, help="ALFWorld data folder (default: $ALFWORLD_DATA)")
    parser.add_argument("--out", default=str(PRIOR_FILE))
    args = parser.parse_args()
    if args.split in EVALUATION_SPLITS:
        sys.exit(f"{args.split} is an evaluation split; count the prior from valid_train or train")
    started = time.time()
    games = find_games(data_root(args.data), args.split)
    counts = count_split(game.game_file for game in games)
    counts["split"] = args.split
    with open(args.out, "w") as handle:
        handle.write(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    print(f"{counts['games']} games of {args.split}: {len(counts['placed'])} object kinds, "
          f"{len(counts['receptacles'])} receptacle kinds, {time.time() - started:.2f} s -> {args.out}")


if __name__ == "__main__":
    main()
