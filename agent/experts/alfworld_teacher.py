"""ALFWorld teacher: decides from what the agent sees, so a model that sees the prompt can learn it.

Inputs: the task sentence, the episode memory (envs/alfworld/memory.py, built from the text
observations alone; read from `obs.state["memory"]`) and the admissible commands. Never the
engine's facts. The rules, first that applies:
1. holding something the task does not want (a student's state): put it down, here if it fits, else
   back where it came from;
2. holding the target, not yet cleaned/heated/cooled as asked: go to the sinkbasin/microwave/fridge
   and treat it;
3. look task, holding the target: go to a lamp seen (else search for one) and turn it on;
4. holding the finished target: go to a receptacle of the goal kind (for two objects, the one that
   already holds one), open it if closed, move the object there;
5. a target seen somewhere (never one already where two-object tasks collect them): go and take it;
6. otherwise search: open the closed receptacle in front, or go to the unsearched receptacle most
   likely to hold what is sought, by a prior counted from the valid_train games (alfworld_prior.py),
   with receptacles that must be opened first counted at half (searching them costs two steps).
The thoughts say what the memory shows and why the action follows.

`alfworld_teacher_ranked` (agent `expert-ranked`) takes the same actions with a search thought that
spells out the lookup in steps a small model can copy: the kinds of this room's places likelier to
hold what is sought, each "(searched)", then the first kind with a place unsearched and that place
("here a cup is likeliest at a countertop (searched), then a cabinet, and cabinet 1 is unsearched").
The plain thought ("of the unsearched places, a cup is most likely at a cabinet") leaves both
lookups in the memory's "unsearched:" line implicit, and a trained student got them wrong in most
of its lost steps (docs/learning/alfworld-teacher-sft.md).

`alfworld_teacher_shuffled` (agent `expert-shuffled`) is the ranked teacher choosing among the
equally likely unsearched places of the chosen kind by a hash of the state instead of taking the
lowest number. Students of the other two learned "at countertop 2, go to countertop 3" from the
`at:` line, which predicts the in-order sweep as well as the memory does, and so went back to
searched places after any detour; here only the `unsearched:` line says which places are left.
Places of one kind score the same, so the order costs nothing in expectation. Its search thought
also quotes, after each kind, that kind's own entry of the memory's `unsearched:` line instead of
judging it: "likeliest at a countertop none, then a cabinet 2, 4 (closed), so I go to cabinet 4".
Whether a kind is spent is then the token after the kind's word in the memory, copied: the
operation a student already does well (it copies place numbers right 93% of the time), where
"(searched)" asked for a yes/no judgement that students got right about three times in four, on
their training games as on new ones, and their attention at that point barely touched the memory
(docs/learning/alfworld-teacher-sft.md, "Teacher-forced").
"""
from __future__ import annotations

import random
import zlib

from vlm_agent.envs.alfworld.search_prior import CLOSED_COST, SearchPrior, load_prior, search_score
from vlm_agent.agent.interface import Observation
from vlm_agent.envs.alfworld.memory import ALFWorldMemory, kind_of, natural_key
from vlm_agent.envs.alfworld.task_sentence import TREATMENT_PLACE, Task, parse_task

_ADJECTIVE = {"clean": "clean", "heat": "hot", "cool": "cool"}
_TREATED = {"clean": "cleaned", "heat": "heated", "cool": "cooled"}


def alfworld_teacher(obs: Observation, rng: random.Random, ranked: bool = False,
                     shuffled: bool = False) -> tuple[str, str]:
    """(thoughts, action) from the task, the memory and the admissible commands."""
    task = parse_task(obs.task_text)
    data = obs.state.get("memory")
    if task is None or data is None:
        action = rng.choice(list(obs.legal_actions))
        return f"The task is to {obs.task_text}. I cannot tell what it needs, so I try {action}.", action
    memory = ALFWorldMemory.from_data(data)
    action, reason = Teacher(task, memory, list(obs.legal_actions), load_prior(), rng, ranked, shuffled).decide()
    return f"The task is to {obs.task_text}. {_situation(memory)} {reason}", action


def alfworld_teacher_ranked(obs: Observation, rng: random.Random) -> tuple[str, str]:
    """The teacher's actions, with the search lookup written out step by step in its thoughts."""
    return alfworld_teacher(obs, rng, ranked=True)


def alfworld_teacher_shuffled(obs: Observation, rng: random.Random) -> tuple[str, str]:
    """The ranked teacher, visiting the unsearched places of one kind in an order the `at:` line cannot predict."""
    return alfworld_teacher(obs, rng, ranked=True, shuffled=True)


def _situation(memory: ALFWorldMemory) -> str:
    place = f"I am at {memory.location}" if memory.location else "I am in the middle of the room"
    held = ", ".join(memory.holding) or "nothing"
    return f"{place}, holding {held}."


class Teacher:
    """One decision; `decide()` returns (action, the reason in words)."""

    def __init__(self, task: Task, memory: ALFWorldMemory, legal: list[str], prior: SearchPrior,
                 rng: random.Random, ranked: bool = False, shuffled: bool = False):
        self.task, self.memory, self.legal, self.prior, self.rng = task, memory, legal, prior, rng
        self.here, self.ranked, self.shuffled = memory.location, ranked, shuffled

    def decide(self) -> tuple[str, str]:
        task, memory = self.task, self.memory
        others = [obj for obj in memory.holding if kind_of(obj) != task.target]
        if others:
            return self._put_down(others[0])
        held = [obj for obj in memory.holding if kind_of(obj) == task.target]
        if held:
            obj = held[0]
            if task.treatment and _TREATED[task.treatment] not in memory.treated(obj):
                return self._treat(obj)
            if task.looks:
                return self._use_lamp(obj)
            return self._deliver(obj)
        return self._fetch()

    # the rules

    def _put_down(self, obj: str) -> tuple[str, str]:
        """Where it can go here; else back where it was taken from; else where such things lie."""
        for place in [self.here] + self.memory.receptacles:
            if place and f"move {obj} to {place}" in self.legal:
                return f"move {obj} to {place}", f"The task does not need {obj}, so I put it down on {place}."
        if self.here and f"open {self.here}" in self.legal:
            return f"open {self.here}", f"The task does not need {obj}; I open {self.here} to put it down."
        origins = [place for verb, done_to, place in self.memory.done if verb == "took" and done_to == obj]
        if origins and origins[-1] != self.here:
            return self._go(origins[-1], f"The task does not need {obj}, and it can go back to {origins[-1]}")
        others = [r for r in self.memory.receptacles if r != self.here]
        if not others:
            return self._fallback(f"I must put down {obj} first")
        best = max(others, key=lambda r: self._score(kind_of(obj), r))
        return self._go(best, f"The task does not need {obj}, and a {kind_of(best)} can hold it")

    def _treat(self, obj: str) -> tuple[str, str]:
        verb = self.task.treatment
        kind = TREATMENT_PLACE[verb]
        places = self._of_kind(kind)
        if not places:
            return self._fallback(f"I see no {kind} to {verb} {obj} with")
        for place in places:
            command = f"{verb} {obj} with {place}"
            if command in self.legal:
                return command, f"{obj} is not {_ADJECTIVE[verb]} yet and {place} can {verb} it, so I {command}."
        return self._go(places[0], f"{obj} must be {_ADJECTIVE[verb]} first, and a {kind} can {verb} it")

    def _use_lamp(self, obj: str) -> tuple[str, str]:
        lamp = self.task.lamp
        lamps = self.memory.seen(lamp)
        if not lamps:
            return self._search(lamp, f"I hold {obj}; now I need a {lamp}, and I have not seen one yet")
        for name, _ in lamps:
            if f"use {name}" in self.legal:
                return f"use {name}", f"{name} is here, so I turn it on to look at {obj} in its light."
        name, place = lamps[0]
        return self._go(place, f"I hold {obj}, and I saw {name} at {place}")

    def _deliver(self, obj: str) -> tuple[str, str]:
        goal = self.task.receptacle
        places = self._destinations()
        if not places:
            return self._fallback(f"I see no {goal} to put {obj} in")
        for place in places:
            command = f"move {obj} to {place}"
            if command in self.legal:
                return command, f"{place} is a {goal}, where the task wants {obj}, so I {command}."
        if self.here in places and f"open {self.here}" in self.legal:
            return f"open {self.here}", f"{self.here} is closed; I open it to put {obj} in."
        why = f"{obj} is ready and goes in a {goal}"
        if self.task.count == 2 and self._collected(places[0]):
            why = f"{obj} is ready and goes with the other {self.task.target} in {places[0]}"
        return self._go(places[0], why)

    def _fetch(self) -> tuple[str, str]:
        target = self.task.target
        candidates = [(obj, place) for obj, place in self.memory.seen(target) if not self._collected(place)]
        if not candidates:
            need = "another" if self._placed() else "a"
            return self._search(target, f"I need {need} {target} and have not seen one I can take")
        for obj, place in candidates:
            if f"take {obj} from {place}" in self.legal:
                return f"take {obj} from {place}", f"{obj} is here, on {place}, so I take it."
        obj, place = candidates[0]
        return self._go(place, f"I saw {obj} at {place}")

    def _search(self, kind: str, why: str) -> tuple[str, str]:
        memory = self.memory
        if self.here and self.here not in memory.contents and f"open {self.here}" in self.legal:
            return f"open {self.here}", f"{why}; {self.here} is closed and unsearched, so I open it."
        unsearched = [r for r in memory.receptacles if r not in memory.contents and r != self.here]
        if not unsearched:
            return self._fallback(f"{why}, and every place is searched")
        if memory.style.startswith("ranked"):  # the head of the block's line (the same place, for the prior's order)
            best = memory.search_order(unsearched)[0]
        else:
            best = max(unsearched, key=lambda r: self._score(kind, r))  # ties: the first in the room's order
        if self.shuffled:  # among the equally likely places of that kind, one the state's hash picks
            top = self._score(kind, best)
            tied = [r for r in unsearched if kind_of(r) == kind_of(best) and self._score(kind, r) == top]
            best = tied[zlib.crc32(f"{memory.task}|{sorted(memory.contents)}|{kind_of(best)}".encode()) % len(tied)]
        # No count of places searched or left: counting a list is hard for a small model and decides nothing.
        if self.ranked and self.shuffled:
            why = f"{why}; {self._ranked_lookup(kind, best, quote=True)}"
        elif self.ranked:
            why = f"{why}; {self._ranked_lookup(kind, best)}, and {best} is unsearched"
        elif memory.style.startswith("ranked"):  # the block lists `best` first: the thought quotes the line's head
            why = f"{why}; the memory's unsearched, likeliest first for a {kind}: {memory.labelled(best)}"
        else:
            why = f"{why}; of the unsearched places, a {kind} is most likely at a {kind_of(best)}"
        for verb in ("open", "examine"):  # a receptacle at the same spot as this one: no need to go
            if f"{verb} {best}" in self.legal:
                return f"{verb} {best}", f"{why}, and {best} is right here, so I {verb} it."
        return self._go(best, why)

    def _ranked_lookup(self, kind: str, best: str, quote: bool = False) -> str:
        """The room's kinds likelier than `best`'s, all searched, in order, then `best`'s kind; each
        marked "(searched)", or with `quote` followed by its entry of the memory's `unsearched:` line
        ("none" for the searched ones, the places left for `best`'s kind).

        Each listed kind scores above `best` as an unopened place of it would (so the order is the
        same in every room: one list per object kind to learn), and every place of it is searched:
        had one been unsearched, it would have been chosen.
        """
        top = self._score(kind, best)
        searched = set(self.memory.contents)
        kinds: dict[str, float] = {}
        for place in self.memory.receptacles:
            rkind = kind_of(place)
            if place in searched:
                closed = self.prior.openable_share(rkind) > 0.5
                kinds.setdefault(rkind, self.prior.chance(kind, rkind) * (CLOSED_COST if closed else 1.0))
            else:
                kinds[rkind] = -1.0  # a kind with a place left is never listed as searched
        likelier = sorted((k for k, score in kinds.items() if score > top and k != kind_of(best)),
                          key=lambda k: (-kinds[k], k))
        if quote:
            entries = self.memory.unsearched_entries()
            steps = [f"{k} {entries.get(k, 'none')}" for k in likelier + [kind_of(best)]]
        else:
            steps = [f"{k} (searched)" for k in likelier] + [kind_of(best)]
        return f"here a {kind} is likeliest at a " + ", then a ".join(steps)

    # helpers

    def _go(self, place: str, why: str) -> tuple[str, str]:
        command = f"go to {place}"
        if command in self.legal:
            return command, f"{why}, so I go to {place}."
        return self._fallback(f"{why}, but I cannot go to {place}")

    def _fallback(self, why: str) -> tuple[str, str]:
        action = "look" if "look" in self.legal else self.rng.choice(self.legal)
        return action, f"{why}, so I {action}."

    def _score(self, kind: str, receptacle: str) -> float:
        return search_score(self.prior, kind, receptacle, self.memory.opened.get(receptacle))

    def _of_kind(self, kind: str) -> list[str]:
        return [r for r in self.memory.receptacles if kind_of(r) == kind]

    def _destinations(self) -> list[str]:
        """Receptacles of the goal kind, best first: one that already holds a target (two-object
        tasks), the one in front, then ones that need no opening."""
        places = self._of_kind(self.task.receptacle)
        def rank(r: str) -> tuple:
            closed = self.memory.opened.get(r) is False or (
                self.memory.opened.get(r) is None and self.prior.openable_share(kind_of(r)) > 0.5)
            return (not (self.task.count == 2 and self._collected(r)), r != self.here, closed, natural_key(r))
        return sorted(places, key=rank)

    def _collected(self, place: str) -> bool:
        """Two-object tasks: `place` is of the goal kind and holds a target already (never take from it)."""
        return (self.task.count == 2 and kind_of(place) == self.task.receptacle
                and any(kind_of(obj) == self.task.target for obj in self.memory.contents.get(place, [])))

    def _placed(self) -> list[str]:
        return [obj for verb, obj, place in self.memory.done
                if verb == "put" and kind_of(obj) == self.task.target and kind_of(place) == self.task.receptacle]
