"""ALFWorld's episode memory: places searched and what was in them, open or closed, what is held, what was done.

Read only from the texts ALFWorld's grammar (alfworld/data/alfred.twl2) writes:
- the first observation lists every receptacle of the room ("Looking quickly around you, you see
  a cabinet 2, ..., and a toaster 1.") and states the task ("Your task is to: ...");
- "You arrive at X. On the X, you see a A 1, and a B 2." / "The X is closed." / "You open the X.
  The X is open. In it, you see nothing." give a receptacle's contents and whether it is open;
- the agent's own accepted commands give the rest: "You pick up the A 1 from the X.", "You move the
  A 1 to the X.", "You heat/clean/cool the A 1 using the X.", "You turn on the A 1.", "You close the X."
A receptacle is searched once its contents have been seen. What was seen stays as last seen.

The styles of block (`MEMORY_STYLES`) hold the same facts. `grouped` lists the unsearched places by
kind in alphabetical order, each kind with its entry ("countertop none; drawer 3, 4"). `ranked`
lists them likeliest first for what a search now seeks, by the search prior counted from the train
games (search_prior.py, never an evaluation split): "unsearched, likeliest first for a cup:
countertop 1, 2; cabinet 4 (closed)". The ranked block does for the agent what a person's sense of
where cups are kept does: the look-up "which kind is likeliest and has a place left" is read off the
line's first entry. A 7M student never learned that look-up from the grouped block
(docs/learning/alfworld-teacher-sft.md, exp8-exp18). `ranked-random` is a training augmentation,
not a block for playing: the ranked block's very words, with the kinds in an order drawn per game
and sought kind (from the task and the kind's name), so that a student trained on it must read the
line's head rather than recall the prior; the teacher follows the line in every ranked style.
`ranked-head` (and its augmentation `ranked-head-random`) writes the line's first place alone, with
its kind's name, before the rest: "unsearched, likeliest first for a cup: countertop 2; then
countertop 3, 4; cabinet 4 (closed)". Students of `ranked` misquoted a head followed by more numbers
of its kind ("sidetable 3, 4, 5" read as "sidetable 2") on 57% of such search steps, against 18%
for a head alone (exp22's valid_seen logs). Trained on it (exp23), a student misquoted the head on
32% of its search steps instead of 37%, and won as many games: not adopted.
"""
from __future__ import annotations

import re
import zlib

from vlm_agent.envs.alfworld.search_prior import load_prior, search_score
from vlm_agent.envs.alfworld.task_sentence import parse_task
from vlm_agent.envs.memory import EpisodeMemory

MEMORY_STYLES = ("ranked", "grouped", "ranked-random", "ranked-head", "ranked-head-random")

NAME = r"[a-z]+ \d+"  # every object and receptacle in the text: a class name and a number
_ROOM = re.compile(r"Looking quickly around you, you see (?P<list>.*?)\.(?:\s|$)")
_TASK = re.compile(r"Your task is to: (?P<task>.*?)\.?\s*$")
_ARRIVE = re.compile(rf"^You arrive at (?P<r>{NAME})\.")
_CLOSED = re.compile(rf"The (?P<r>{NAME}) is closed\.")
_OPEN = re.compile(rf"The (?P<r>{NAME}) is open\. In it, you see (?P<list>.*?)\.$")
_ON = re.compile(rf"On the (?P<r>{NAME}), you see (?P<list>.*?)\.$")
_CLOSE = re.compile(rf"^You close the (?P<r>{NAME})\.")
_TAKE = re.compile(rf"^You pick up the (?P<o>{NAME}) from the (?P<r>{NAME})\.")
_PUT = re.compile(rf"^You move the (?P<o>{NAME}) to the (?P<r>{NAME})\.")
_TREAT = re.compile(rf"^You (?P<verb>heat|clean|cool) the (?P<o>{NAME}) using the (?P<r>{NAME})\.")
_TOGGLE = re.compile(rf"^You turn (?P<how>on|off) the (?P<o>{NAME})\.")
_CARRYING = re.compile(r"^You are carrying: (?P<list>.*?)\.$")
_PAST = {"heat": "heated", "clean": "cleaned", "cool": "cooled"}


def natural_key(name: str) -> tuple:
    """"cabinet 2" before "cabinet 10"."""
    word, _, number = name.rpartition(" ")
    return (word, int(number)) if number.isdigit() else (name, 0)


def kind_of(name: str) -> str:
    """"desklamp" for "desklamp 1"."""
    return name.rpartition(" ")[0] or name


def parse_list(text: str) -> list[str]:
    """"a apple 1, a egg 2, and a cup 1" -> ["apple 1", "egg 2", "cup 1"]; "nothing" -> []."""
    return re.findall(rf"(?:^|, |and )(?:an? )?({NAME})(?=,|$)", text.strip())


def grouped_entries(groups: str) -> list[tuple[str, str]]:
    """A grouped line's (kind, entry) pairs in order: "cabinet 2, 3; countertop none" -> [("cabinet", "2, 3"), ("countertop", "none")]."""
    return [tuple(group.split(" ", 1)) for group in groups.split("; ") if " " in group]


class ALFWorldMemory(EpisodeMemory):
    """One episode's memory; `render()` is the prompt's block, `as_data()` what the teacher reads."""

    def __init__(self, style: str = "grouped") -> None:
        if style not in MEMORY_STYLES:
            raise ValueError(f"unknown memory style {style!r}; use one of {', '.join(MEMORY_STYLES)}")
        self.style = style
        self.reset("")

    def reset(self, observation: str) -> None:
        text = " ".join(observation.split())
        room = _ROOM.search(text)
        task = _TASK.search(text)
        self.task = task.group("task") if task else ""
        self.receptacles: list[str] = sorted(parse_list(room.group("list")), key=natural_key) if room else []
        self.location = ""
        self.opened: dict[str, bool] = {}  # openable receptacles seen, True when open
        self.contents: dict[str, list[str]] = {}  # searched receptacles, as last seen
        self.searched: list[str] = []  # in the order first searched
        self.holding: list[str] = []
        self.done: list[tuple[str, str, str]] = []  # (verb, object, place), e.g. ("took", "apple 1", "fridge 1")

    def update(self, command: str | None, observation: str) -> None:
        if command is None:  # not admissible: the world did not change and nothing new was seen
            return
        text = " ".join(observation.split())
        if found := _ARRIVE.match(text):
            self.location = found.group("r")
        if found := _CLOSED.search(text):
            self.opened[found.group("r")] = False
        if found := _OPEN.search(text):
            self.opened[found.group("r")] = True
            self._saw(found.group("r"), found.group("list"))
        elif found := _ON.search(text):
            self._saw(found.group("r"), found.group("list"))
        if found := _CLOSE.match(text):
            self.opened[found.group("r")] = False
        if found := _TAKE.match(text):
            obj, place = found.group("o", "r")
            self.holding.append(obj)
            if obj in self.contents.get(place, []):
                self.contents[place].remove(obj)
            self.done.append(("took", obj, place))
        if found := _PUT.match(text):
            obj, place = found.group("o", "r")
            if obj in self.holding:
                self.holding.remove(obj)
            self.contents.setdefault(place, []).append(obj)
            self.done.append(("put", obj, place))
        if found := _TREAT.match(text):
            self.done.append((_PAST[found.group("verb")], found.group("o"), found.group("r")))
        if found := _TOGGLE.match(text):
            self.done.append((f"turned {found.group('how')}", found.group("o"), self.location))
        if found := _CARRYING.match(text):
            self.holding = parse_list(found.group("list"))
        elif text.startswith("You are not carrying anything"):
            self.holding = []

    def _saw(self, place: str, listing: str) -> None:
        self.contents[place] = parse_list(listing)
        if place not in self.searched:
            self.searched.append(place)

    # what the agent reads

    def watched_kinds(self) -> list[str]:
        """The object kinds the task names (its target, and the lamp of a look task)."""
        task = parse_task(self.task) if self.task else None
        if task is None:
            return []
        return [task.target] + ([task.lamp] if task.lamp else [])

    def sought_kind(self) -> str:
        """What a search now looks for: a look task's lamp once its target is held and no lamp has been
        seen, else the task's target ("" when the task cannot be read)."""
        task = parse_task(self.task) if self.task else None
        if task is None:
            return ""
        if task.looks and any(kind_of(obj) == task.target for obj in self.holding) and not self.seen(task.lamp):
            return task.lamp
        return task.target

    def search_order(self, places: list[str], kind: str | None = None) -> list[str]:
        """`places` likeliest first to hold `kind` (default: the sought kind; ties in the room's order): the
        teacher's order. `*-random`: the kinds in an order drawn from the task and the kind's name instead."""
        kind = self.sought_kind() if kind is None else kind
        if self.style.endswith("-random"):
            return sorted(places, key=lambda r: (zlib.crc32(f"{self.task}|{kind}|{kind_of(r)}".encode()), natural_key(r)))
        prior = load_prior()
        return sorted(places, key=lambda r: (-search_score(prior, kind, r, self.opened.get(r)), natural_key(r)))

    def seen(self, kind: str) -> list[tuple[str, str]]:
        """(object, receptacle) for every object of `kind` last seen in a receptacle, in the order searched."""
        places = self.searched + [p for p in self.contents if p not in self.searched]
        return [(obj, place) for place in places for obj in self.contents.get(place, []) if kind_of(obj) == kind]

    def treated(self, obj: str) -> list[str]:
        """What was done to an object beyond moving it: "heated", "cleaned", "cooled"."""
        return [verb for verb, done_to, _ in self.done if done_to == obj and verb in _PAST.values()]

    def render(self) -> str:
        """The prompt's block. Places are grouped by kind in number order ("cabinet 2, 3 (closed);
        drawer 1"), so "the first unsearched cabinet" is the number right after the word; the place the
        agent is at is not in `unsearched:` (the `at:` line marks it unsearched when it is), and a watched
        object lying where the agent is is marked "(here)". Measured on the teacher's data: a 7M
        model read the ungrouped lists wrongly (it went to "cabinet 1" while at cabinet 1).

        `unsearched:` names every kind of the room, "none" where no place of it is left but the one the
        agent is at ("countertop none; drawer 3, 4"): whether a kind is spent is then read after the
        kind's own word, not from its absence. Students of the earlier block, which left spent kinds
        out, went back to spent kinds on about half their search steps
        (docs/learning/alfworld-teacher-sft.md, "Where exp5 loses").

        The ranked style replaces that line with the unsearched places likeliest first for
        `sought_kind()` (`search_order`), kinds grouped in the order of their likeliest place."""
        return self._render(spent_kinds=True, ranked=self.style.startswith("ranked"))

    def earlier_renders(self) -> tuple[str, ...]:
        return () if self.style.startswith("ranked") else (self._render(spent_kinds=False),)

    def _render(self, spent_kinds: bool, ranked: bool = False) -> str:
        here = self.location
        if here:
            place = self.labelled(here) + ("" if here in self.contents else " unsearched")
        else:
            place = "the middle of the room"
        held = ", ".join(self._held(obj) for obj in self.holding) or "nothing"
        lines = [f"at: {place} | holding: {held}"]
        for kind in self.watched_kinds():
            by_place: dict[str, list[str]] = {}
            for obj, where in self.seen(kind):
                by_place.setdefault(where, []).append(obj)
            found = "; ".join(f"{', '.join(objs)} @ {where}{' (here)' if where == here else ''}"
                              for where, objs in by_place.items()) or "none yet"
            lines.append(f"seen {kind}: {found}")
        lines.append("searched: " + (self._grouped(self.searched) or "nothing yet"))
        unsearched = [r for r in self.receptacles if r not in self.contents and r != here]
        sought = self.sought_kind() if ranked else ""
        if sought:
            order = self.search_order(unsearched, sought)
            if self.style.startswith("ranked-head") and order:
                rest = self._in_order(order[1:])
                listed = self.labelled(order[0]) + (f"; then {rest}" if rest else "")
            else:
                listed = self._in_order(order) or "nothing"
            lines.append(f"unsearched, likeliest first for a {sought}: {listed}")
        else:
            spent = sorted({kind_of(r) for r in self.receptacles} - {kind_of(r) for r in unsearched}) if spent_kinds else []
            lines.append("unsearched: " + (self._grouped(unsearched, spent) or "nothing"))
        if self.done:
            lines.append("done: " + "; ".join(_done_words(*step) for step in self.done))
        return "\n".join(lines)

    def _in_order(self, places: list[str]) -> str:
        """["cabinet 4", "countertop 1", "cabinet 2"] -> "cabinet 4, 2; countertop 1": kinds in the order
        of their first place, each kind's places in the given order."""
        kinds: dict[str, list[str]] = {}
        for name in places:
            kinds.setdefault(kind_of(name), []).append(self.labelled(name)[len(kind_of(name)) + 1:])
        return "; ".join(f"{kind} {', '.join(numbers)}" for kind, numbers in kinds.items())

    def unsearched_entries(self) -> dict[str, str]:
        """Each kind's entry of the grouped block's `unsearched:` line: {"countertop": "none", "drawer": "3, 4 (closed)"}."""
        line = next(line for line in self._render(spent_kinds=True).splitlines() if line.startswith("unsearched: "))
        return dict(grouped_entries(line.removeprefix("unsearched: ")))

    def _grouped(self, places: list[str], spent: list[str] = ()) -> str:
        """["cabinet 3", "drawer 1", "cabinet 2"] -> "cabinet 2, 3; drawer 1" (with open/closed labels);
        each kind of `spent` as "kind none", in its place in the kinds' order."""
        kinds: dict[str, list[str]] = {kind: ["none"] for kind in spent}
        for name in sorted(places, key=natural_key):
            kinds.setdefault(kind_of(name), []).append(self.labelled(name)[len(kind_of(name)) + 1:])
        return "; ".join(f"{kind} {', '.join(numbers)}" for kind, numbers in sorted(kinds.items()))

    def as_data(self) -> dict:
        return {
            "style": self.style,
            "task": self.task,
            "location": self.location,
            "holding": list(self.holding),
            "receptacles": list(self.receptacles),
            "opened": dict(self.opened),
            "contents": {place: list(objs) for place, objs in self.contents.items()},
            "searched": list(self.searched),
            "done": [list(step) for step in self.done],
        }

    @classmethod
    def from_data(cls, data: dict) -> "ALFWorldMemory":
        """The memory `as_data()` described (a scripted agent reads it back from the observation)."""
        memory = cls(data.get("style", "grouped"))
        memory.task, memory.location = data.get("task", ""), data.get("location", "")
        memory.holding = list(data.get("holding", []))
        memory.receptacles = list(data.get("receptacles", []))
        memory.opened = dict(data.get("opened", {}))
        memory.contents = {place: list(objs) for place, objs in data.get("contents", {}).items()}
        memory.searched = list(data.get("searched", []))
        memory.done = [tuple(step) for step in data.get("done", [])]
        return memory

    def labelled(self, receptacle: str) -> str:
        """"fridge 1 (closed)": a place as the block names it."""
        state = self.opened.get(receptacle)
        return receptacle if state is None else f"{receptacle} ({'open' if state else 'closed'})"

    def _held(self, obj: str) -> str:
        treated = self.treated(obj)
        return f"{obj} ({', '.join(treated)})" if treated else obj


def _done_words(verb: str, obj: str, place: str) -> str:
    if verb == "took":
        return f"took {obj} from {place}"
    if verb == "put":
        return f"put {obj} in {place}"
    if verb.startswith("turned"):
        return f"{verb} {obj}"
    return f"{verb} {obj} with {place}"
