"""What the agent can see, read from the engine's facts: where it stands, what is in front of it, what it holds.

Names are the ones the game's text uses ("fridge 1", "apple 2"). The frame and the expert's
thoughts are drawn from this view, so they never say more than the text observation could.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    task: str
    location: str  # the receptacle in front of the agent, "" in the middle of the room
    openable: bool
    is_open: bool
    contents: tuple[str, ...]  # what is visible in or on it (nothing when it is closed)
    holding: tuple[str, ...]


def facts_by_name(facts) -> dict[str, list[tuple[str, ...]]]:
    """Propositions grouped by predicate (lower case, as fast-downward writes them), each as its argument ids."""
    grouped: dict[str, list[tuple[str, ...]]] = {}
    for fact in facts:
        grouped.setdefault(fact.name.lower(), []).append(tuple(arg.name for arg in fact.arguments))
    return grouped


def read_view(facts, names: dict[str, str], task: str, last_goto: str = "") -> View:
    """The view from the facts; `names` maps ids to the game's names, `last_goto` is the last `go to` target."""
    by = facts_by_name(facts)
    here = {args[1] for args in by.get("atlocation", [])}
    at_here = sorted((names[r] for r, loc in by.get("receptacleatlocation", []) if loc in here), key=_natural)
    name_to_id = {names[r]: r for r, _ in by.get("receptacleatlocation", [])}
    holding = tuple(sorted((names[o] for _, o in by.get("holds", [])), key=_natural))
    if not at_here:
        return View(task, "", False, False, (), holding)
    front = last_goto if last_goto in at_here else at_here[0]
    front_id = name_to_id[front]
    openable = (front_id,) in by.get("openable", [])
    is_open = (front_id,) in by.get("opened", [])
    contents = ()
    if not openable or is_open:
        contents = tuple(sorted((names[o] for o, r in by.get("inreceptacle", []) if r == front_id), key=_natural))
    return View(task, front, openable, is_open, contents, holding)


def _natural(name: str) -> tuple:
    """"cabinet 2" before "cabinet 10"."""
    word, _, number = name.rpartition(" ")
    return (word, int(number)) if number.isdigit() else (name, 0)
