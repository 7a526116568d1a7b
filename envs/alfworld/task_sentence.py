"""What an ALFWorld task sentence asks for, read from the sentence alone.

The six task types are written with twelve templates (alfworld's `gen/goal_library.py`, two per
type; tests/test_alfworld_memory.py checks they are the same). Names are the lower-case class names
the game's text uses ("soapbar", "desklamp", "countertop").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# template -> (task type, treatment the object needs, how many objects)
TEMPLATES = {
    "put a {obj} in {recep}": ("pick_and_place_simple", "", 1),
    "put some {obj} on {recep}": ("pick_and_place_simple", "", 1),
    "look at {obj} under the {toggle}": ("look_at_obj_in_light", "", 1),
    "examine the {obj} with the {toggle}": ("look_at_obj_in_light", "", 1),
    "put a clean {obj} in {recep}": ("pick_clean_then_place_in_recep", "clean", 1),
    "clean some {obj} and put it in {recep}": ("pick_clean_then_place_in_recep", "clean", 1),
    "put a hot {obj} in {recep}": ("pick_heat_then_place_in_recep", "heat", 1),
    "heat some {obj} and put it in {recep}": ("pick_heat_then_place_in_recep", "heat", 1),
    "put a cool {obj} in {recep}": ("pick_cool_then_place_in_recep", "cool", 1),
    "cool some {obj} and put it in {recep}": ("pick_cool_then_place_in_recep", "cool", 1),
    "put two {obj} in {recep}": ("pick_two_obj_and_place", "", 2),
    "find two {obj} and put them in {recep}": ("pick_two_obj_and_place", "", 2),
}
# The receptacle that does each treatment (its type name in the text).
TREATMENT_PLACE = {"clean": "sinkbasin", "heat": "microwave", "cool": "fridge"}


@dataclass(frozen=True)
class Task:
    """The sentence's demands: `target` objects (`count` of them), treated, then put in a `receptacle`,
    or (look tasks) held under a `lamp`."""

    task_type: str
    target: str
    receptacle: str = ""
    lamp: str = ""
    treatment: str = ""  # "clean", "heat", "cool" or ""
    count: int = 1

    @property
    def looks(self) -> bool:
        return bool(self.lamp)


def _pattern(template: str) -> re.Pattern:
    text = re.escape(template)
    for field in ("obj", "recep", "toggle"):
        text = text.replace(re.escape("{" + field + "}"), f"(?P<{field}>[a-z]+)")
    return re.compile(text + r"\.?")


_PATTERNS = [(_pattern(template), spec) for template, spec in TEMPLATES.items()]


def parse_task(sentence: str) -> Task | None:
    """The task a sentence states, or None when it is none of the twelve templates."""
    sentence = " ".join(sentence.lower().split())
    for pattern, (task_type, treatment, count) in _PATTERNS:
        found = pattern.fullmatch(sentence)
        if found:
            fields = found.groupdict()
            return Task(task_type, fields["obj"], fields.get("recep") or "", fields.get("toggle") or "",
                        treatment, count)
    return None
