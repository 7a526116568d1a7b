"""The action parser against the reference oracle of tests/test_parsing_fuzz.py on many random answers.

Printed: answers checked, then crashes, wrong accepts (OK where the oracle does not accept, or another
action), span errors and other status disagreements, with the first example of each. Exit 1 if any.

    python benchmarks/parsing_fuzz.py [--answers 100000] [--seed 0]
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_parsing_fuzz import LEGAL, disagreement, random_answer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for _ in range(args.answers):
        answer = random_answer(rng)
        kind = disagreement(answer, LEGAL)
        if kind is not None:
            counts[kind] += 1
            first.setdefault(kind, answer)
    print(f"{args.answers} answers (seed {args.seed})")
    for kind in ("crash", "wrong accept", "span", "status"):
        example = f"   first: {first[kind]!r}" if kind in first else ""
        print(f"  {kind:<13} {counts[kind]}{example}")
    return 1 if counts else 0


if __name__ == "__main__":
    sys.exit(main())
