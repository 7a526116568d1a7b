"""Sample one ALFWorld task in a scene and place its objects: the content of a generated game.

The rules follow ALFRED's generator (alfworld/gen): a task type is valid in the room types
`constants.GOALS_VALID` names; objects go into receptacles whose class can contain them
(`VAL_RECEPTACLE_OBJECTS`), up to `MAX_NUM_OF_OBJ_INSTANCES` of a class; the target object never
starts in a receptacle of the goal's class, so no game is won before the first step.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import alfworld.gen.constants as constants

from vlm_agent.envs.alfworld.generation.scene import PICKUPABLE, Receptacle, Scene, grid_location, object_id

# The receptacle class a task's state change needs (the domain's CleanObject wants a SinkBasin).
TOOL = {
    "pick_clean_then_place_in_recep": "SinkBasin",
    "pick_heat_then_place_in_recep": "Microwave",
    "pick_cool_then_place_in_recep": "Fridge",
}
# The object property a task's target needs.
PROPERTY = {
    "pick_clean_then_place_in_recep": "Cleanable",
    "pick_heat_then_place_in_recep": "Heatable",
    "pick_cool_then_place_in_recep": "Coolable",
}
LAMPS = ("DeskLamp", "FloorLamp")
# Lamps are not in VAL_RECEPTACLE_OBJECTS, but toggling one needs it in a receptacle.
LAMP_STANDS = ("Desk", "Dresser", "SideTable", "Shelf", "CoffeeTable", "TVStand", "DiningTable", "CounterTop")


@dataclass(frozen=True)
class Placement:
    id: str
    cls: str
    receptacle: Receptacle


@dataclass(frozen=True)
class Task:
    type: str
    object_target: str
    parent_target: str  # "" for look_at_obj_in_light
    toggle_target: str  # "" unless look_at_obj_in_light

    @property
    def folder_name_prefix(self) -> str:
        """`<task_type>-<Obj>-<Movable>-<Recep>`, the official folder name without the scene."""
        return f"{self.type}-{self.object_target}-None-{self.parent_target or self.toggle_target}"


@dataclass(frozen=True)
class GameSpec:
    scene: Scene
    task: Task
    objects: tuple[Placement, ...]
    agent_location: tuple[int, int, int, int]


def can_contain(receptacle_cls: str, object_cls: str) -> bool:
    return object_cls in constants.VAL_RECEPTACLE_OBJECTS.get(receptacle_cls, ())


def scene_fits(scene: Scene, task_type: str) -> bool:
    """Whether a task of this type can be set in the scene at all (room type, tools, lamps, targets)."""
    if scene.room not in constants.GOALS_VALID[task_type]:
        return False
    if task_type in TOOL and TOOL[task_type] not in scene.receptacle_classes:
        return False
    if task_type == "look_at_obj_in_light" and not scene.receptacle_classes & set(LAMP_STANDS):
        return False
    return bool(_target_choices(scene, task_type))


def _target_choices(scene: Scene, task_type: str) -> list[tuple[str, str]]:
    """(object class, goal receptacle class) pairs the scene supports for this task type."""
    receptacle_classes = sorted(scene.receptacle_classes)
    movable = sorted(cls for cls in scene.object_classes if cls in PICKUPABLE)
    if task_type in PROPERTY:
        movable = [cls for cls in movable if cls in constants.VAL_ACTION_OBJECTS[PROPERTY[task_type]]]
    pairs = []
    for obj in movable:
        holders = [r for r in receptacle_classes if can_contain(r, obj)]
        if task_type == "look_at_obj_in_light":
            pairs.extend((obj, lamp) for lamp in LAMPS if lamp in scene.object_classes and holders)
            continue
        # The target needs somewhere to start that is not the goal's receptacle class; as in ALFRED,
        # the goal is never the receptacle that does the state change (no "heat it, put it in the microwave").
        pairs.extend((obj, goal) for goal in holders if len(holders) > 1 and goal != TOOL.get(task_type))
    return pairs


def sample_task(scene: Scene, task_type: str, rng: random.Random) -> Task:
    obj, other = rng.choice(_target_choices(scene, task_type))
    if task_type == "look_at_obj_in_light":
        return Task(task_type, obj, "", other)
    return Task(task_type, obj, other, "")


def _instance_id(cls: str, receptacle: Receptacle, rng: random.Random, taken: set[str]) -> str:
    _, x, y, z = receptacle.id.split("|")[:4]
    while True:
        thor_id = object_id(cls, float(x) + rng.uniform(-0.4, 0.4), float(y) + rng.uniform(0.0, 0.9),
                            float(z) + rng.uniform(-0.4, 0.4))
        if thor_id not in taken:
            taken.add(thor_id)
            return thor_id


def place_objects(scene: Scene, task: Task, rng: random.Random) -> tuple[Placement, ...]:
    """Every pickupable class of the scene, 1 to 3 of each (2 to 4 targets for pick-two)."""
    taken = {r.id for r in scene.receptacles}
    placements = []
    for cls in sorted(c for c in scene.object_classes if c in PICKUPABLE):
        holders = [r for r in scene.receptacles if can_contain(r.cls, cls)]
        if cls == task.object_target:
            holders = [r for r in holders if r.cls != task.parent_target]
            low = 2 if task.type == "pick_two_obj_and_place" else 1
            count = rng.randint(low, low + constants.MAX_NUM_OF_OBJ_INSTANCES - 1)
        else:
            count = rng.randint(1, constants.MAX_NUM_OF_OBJ_INSTANCES)
        for _ in range(count if holders else 0):
            receptacle = rng.choice(holders)
            placements.append(Placement(_instance_id(cls, receptacle, rng, taken), cls, receptacle))
    if task.toggle_target:
        stands = [r for r in scene.receptacles if r.cls in LAMP_STANDS]
        receptacle = rng.choice(stands)
        placements.append(Placement(_instance_id(task.toggle_target, receptacle, rng, taken),
                                    task.toggle_target, receptacle))
    return tuple(placements)


def sample_game(scene: Scene, task_type: str, rng: random.Random) -> GameSpec | None:
    """A task in the scene with its objects and the agent's start, or None if the scene cannot host it."""
    if not scene_fits(scene, task_type):
        return None
    task = sample_task(scene, task_type, rng)
    objects = place_objects(scene, task, rng)
    return GameSpec(scene, task, objects, _start_location(scene, rng))


def _start_location(scene: Scene, rng: random.Random) -> tuple[int, int, int, int]:
    """A walkable point away from every receptacle: the game starts "in the middle of a room"."""
    occupied = {r.location for r in scene.receptacles}
    while True:
        x, z = rng.choice(scene.free_points)
        location = grid_location(x, z, rng.randrange(4) * 90, rng.choice((0, 30)))
        if location not in occupied:
            return location
