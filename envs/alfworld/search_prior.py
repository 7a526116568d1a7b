"""Where ALFWorld's objects tend to lie: object kind -> receptacle kind counts from games' initial states.

The teacher (agent/experts/alfworld_teacher.py) searches unsearched receptacles in the order of this
prior, and the memory's ranked block (memory.py) lists them in that order. The shipped
`search_prior.json` is counted from the 200 games of the official `valid_train` split
(benchmarks/alfworld_prior.py writes it); no evaluation split is ever read for it. It is knowledge
of the world in general, like a person's, not a fact of the game being played.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

PRIOR_FILE = Path(__file__).with_name("search_prior.json")
_TYPED = re.compile(r"\((objectType|receptacleType) (\S+) (\S+)Type\)")
_IN = re.compile(r"\(inReceptacle (\S+) (\S+)\)")
_OPENABLE = re.compile(r"\(openable (\S+)\)")
SMOOTHING = 0.05  # a kind never seen in a receptacle kind still ranks by how few of them there are
CLOSED_COST = 0.5  # weight of a receptacle that must be opened before it can be searched (two steps, not one)


def count_placements(problems: Iterable[str]) -> dict:
    """Counts over PDDL problems (the `pddl_problem` of game files): placements, receptacles, openable ones.

    Kinds are lower case, as the game's text names them ("desklamp", "sinkbasin").
    """
    placed: dict[str, Counter] = {}
    receptacles, openable = Counter(), Counter()
    games = 0
    for problem in problems:
        games += 1
        kinds = {ident: kind.lower() for _, ident, kind in _TYPED.findall(problem)}
        is_receptacle = {ident for what, ident, _ in _TYPED.findall(problem) if what == "receptacleType"}
        receptacles.update(kinds[r] for r in is_receptacle)
        openable.update(kinds[r] for r in set(_OPENABLE.findall(problem)) if r in is_receptacle)
        for obj, place in _IN.findall(problem):
            if obj in kinds and place in kinds and place in is_receptacle:
                placed.setdefault(kinds[obj], Counter())[kinds[place]] += 1
    return {
        "games": games,
        "placed": {obj: dict(sorted(c.items())) for obj, c in sorted(placed.items())},
        "receptacles": dict(sorted(receptacles.items())),
        "openable": dict(sorted(openable.items())),
    }


def count_split(game_files: Iterable[Path]) -> dict:
    """`count_placements` over game files (their embedded PDDL problem)."""
    return count_placements(json.loads(Path(f).read_text())["pddl_problem"] for f in game_files)


@dataclass(frozen=True)
class SearchPrior:
    """How likely one receptacle of a kind holds an object of a kind, and how often that kind opens."""

    placed: dict
    receptacles: dict
    openable: dict

    def chance(self, obj_kind: str, receptacle_kind: str) -> float:
        """Objects of `obj_kind` seen per receptacle of `receptacle_kind` (smoothed)."""
        count = self.placed.get(obj_kind, {}).get(receptacle_kind, 0)
        return (count + SMOOTHING) / (self.receptacles.get(receptacle_kind, 0) + 1)

    def openable_share(self, receptacle_kind: str) -> float:
        return self.openable.get(receptacle_kind, 0) / max(self.receptacles.get(receptacle_kind, 0), 1)


@lru_cache(maxsize=1)
def load_prior(path: Path = PRIOR_FILE) -> SearchPrior:
    data = json.loads(Path(path).read_text())
    return SearchPrior(data["placed"], data["receptacles"], data["openable"])


def search_score(prior: SearchPrior, obj_kind: str, receptacle: str, opened: bool | None) -> float:
    """How worth searching `receptacle` is for an `obj_kind`: the prior's chance, halved when it must be
    opened first (`opened` False: seen closed; None: not seen yet, and most of its kind open)."""
    rkind = receptacle.rpartition(" ")[0] or receptacle
    must_open = opened is False or (opened is None and prior.openable_share(rkind) > 0.5)
    return prior.chance(obj_kind, rkind) * (CLOSED_COST if must_open else 1.0)
