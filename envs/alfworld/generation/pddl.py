"""Write a generated game in the official file formats: game.tw-pddl and traj_data.json.

The game file holds the wheel's own domain and grammar (the `move X to Y` commands alfworld 0.4.x
expects), the task sentence put into the grammar as `alfworld-generate` does, and a PDDL problem
written like ALFRED's `PlannedGameState.state_to_pddl`: names mangled the same way
(`Apple|+01.00|...` -> `Apple_bar__plus_01_dot_00...`), facts in the same order.
"""
from __future__ import annotations

import random

import alfworld.gen.constants as constants
import alfworld.gen.goal_library as goal_library

from vlm_agent.envs.alfworld.engine.games import TASK_PLACEHOLDER, wheel_logic
from vlm_agent.envs.alfworld.generation.scene import STATIC_RECEPTACLES
from vlm_agent.envs.alfworld.generation.task import GameSpec


_MANGLE = (("-", "_minus_"), ("#", "-"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_"))
ABSTRACT_OBJECTS = sorted(constants.OBJECTS_SET - STATIC_RECEPTACLES)
ABSTRACT_RECEPTACLES = sorted(STATIC_RECEPTACLES)


def mangle(text: str) -> str:
    """ALFRED's `fix_pddl_str_chars`: THOR ids and `#` type markers to PDDL-safe names."""
    return "".join(_replace_char(ch) for ch in text)


def _replace_char(ch: str) -> str:
    return next((new for old, new in _MANGLE if old == ch), ch)


def task_sentence(spec: GameSpec, rng: random.Random) -> str:
    """One of goal_library's templates, filled with lower-case class names (alfworld's wording)."""
    task = spec.task
    template = rng.choice(goal_library.gdict[task.type]["templates"])
    return template.format(obj=task.object_target.lower(), recep=task.parent_target.lower(),
                           toggle=task.toggle_target.lower(), mrecep="")


def goal_pddl(spec: GameSpec) -> str:
    task = spec.task
    text = goal_library.gdict[task.type]["pddl"].format(obj=task.object_target, recep=task.parent_target,
                                                       toggle=task.toggle_target, mrecep="")
    return text.replace("#", "-")


def _lines(facts: list[str]) -> str:
    return "".join(f"        {fact}\n" for fact in facts)


def problem_pddl(spec: GameSpec, name: str) -> str:
    receptacles = sorted(spec.scene.receptacles, key=lambda r: r.id)
    objects = sorted(spec.objects, key=lambda o: o.id)
    object_classes = sorted({o.cls for o in objects})
    locations = sorted({r.location for r in receptacles} | {spec.agent_location})
    declared = (["agent1 # agent"] + [f"{c} # object" for c in ABSTRACT_OBJECTS]
                + [f"{c}Type # otype" for c in ABSTRACT_OBJECTS] + [f"{c}Type # rtype" for c in ABSTRACT_RECEPTACLES]
                + [f"{o.id} # object" for o in objects] + [f"{r.id} # receptacle" for r in receptacles]
                + ["loc|%d|%d|%d|%d # location" % loc for loc in locations])
    actions = constants.VAL_ACTION_OBJECTS
    facts = [f"(receptacleType {r.id} {r.cls}Type)" for r in receptacles]
    facts += [f"(objectType {o.id} {o.cls}Type)" for o in objects]
    facts += [f"(canContain {rc}Type {oc}Type)" for rc in sorted({r.cls for r in receptacles})
              for oc in object_classes if oc in constants.VAL_RECEPTACLE_OBJECTS[rc]]
    facts += [f"(pickupable {o.id})" for o in objects if o.cls not in actions["Toggleable"]]
    facts += [f"(isReceptacleObject {o.id})" for o in objects if o.cls in constants.MOVABLE_RECEPTACLES_SET]
    facts += [f"(openable {r.id})" for r in receptacles if r.cls in constants.OPENABLE_CLASS_SET]
    facts += ["(atLocation agent1 loc|%d|%d|%d|%d)" % spec.agent_location]
    for predicate, group in (("cleanable", "Cleanable"), ("heatable", "Heatable"), ("coolable", "Coolable"),
                             ("toggleable", "Toggleable"), ("sliceable", "Sliceable")):
        facts += [f"({predicate} {o.id})" for o in objects if o.cls in actions[group]]
    facts += [f"(inReceptacle {o.id} {o.receptacle.id})" for o in objects]
    facts += ["(receptacleAtLocation %s loc|%d|%d|%d|%d)" % (r.id, *r.location) for r in receptacles]
    facts += ["(objectAtLocation %s loc|%d|%d|%d|%d)" % (o.id, *o.receptacle.location) for o in objects]
    head = f"(define (problem {name})\n(:domain alfred)\n(:objects\n{_lines(declared)}        )\n(:init\n"
    return mangle(head + _lines(facts) + "        )\n") + goal_pddl(spec)


def game_file(spec: GameSpec, name: str, sentence: str) -> dict:
    """The game.tw-pddl content (a JSON object), before the expert has checked it."""
    domain, grammar = wheel_logic()
    return {"pddl_domain": domain, "grammar": grammar.replace(TASK_PLACEHOLDER, sentence),
            "pddl_problem": problem_pddl(spec, name), "solvable": False}


def traj_data(spec: GameSpec, trial: str, sentence: str) -> dict:
    """The traj_data.json keys alfworld reads (task_type, pddl_params) plus the scene and task text."""
    task = spec.task
    return {
        "generated": True,
        "pddl_params": {"mrecep_target": "", "object_sliced": False, "object_target": task.object_target,
                        "parent_target": task.parent_target, "toggle_target": task.toggle_target},
        "scene": {"floor_plan": f"FloorPlan{spec.scene.number}", "scene_num": spec.scene.number},
        "task_id": trial,
        "task_type": task.type,
        "turk_annotations": {"anns": [{"task_desc": sentence, "high_descs": [], "votes": []}]},
    }
