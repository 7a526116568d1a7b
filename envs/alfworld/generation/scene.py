"""Scenes for generated ALFWorld games, read from the layouts the alfworld wheel ships.

Each AI2-THOR floor plan has `FloorPlan<n>-openable.json` (receptacle id -> the pose the agent
stands at to reach it) and `FloorPlan<n>-objects.json` (the object classes in the scene). The
openable lists miss some receptacles (no SinkBasin at all, most GarbageCans, every StoveBurner,
Toaster and CoffeeMachine); those present in the class list get a synthetic instance at a free
point of the scene's walkable grid (`FloorPlan<n>-layout.npy`) so that scenes keep their furniture.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import alfworld.gen
import alfworld.gen.constants as constants

LAYOUTS = Path(alfworld.gen.__file__).parent / "layouts"
GRID_STEP = constants.AGENT_STEP_SIZE  # metres per grid cell of a location name

# Receptacles that AI2-THOR nests inside another object: their ids are "<parent id>|<class>".
BASIN_PARENT = {"SinkBasin": "Sink", "BathtubBasin": "Bathtub"}
# Classes that come in a row in real kitchens; the rest get one synthetic instance.
SYNTHETIC_COUNT = {"StoveBurner": 4}
STATIC_RECEPTACLES = frozenset(constants.VAL_RECEPTACLE_OBJECTS) - set(constants.MOVABLE_RECEPTACLES)
PICKUPABLE = frozenset(
    cls for contents in constants.VAL_RECEPTACLE_OBJECTS.values() for cls in contents
    if cls in constants.OBJECTS_SET and cls not in STATIC_RECEPTACLES
)


@dataclass(frozen=True)
class Receptacle:
    id: str  # AI2-THOR style, e.g. "Drawer|+01.13|+00.16|+01.74"
    cls: str
    location: tuple[int, int, int, int]  # grid x, grid z, rotation / 90, camera horizon


@dataclass(frozen=True)
class Scene:
    number: int
    receptacles: tuple[Receptacle, ...]
    object_classes: tuple[str, ...]  # everything the floor plan lists, receptacles included
    free_points: tuple[tuple[float, float], ...]  # walkable (x, z) in metres

    @property
    def receptacle_classes(self) -> frozenset[str]:
        return frozenset(r.cls for r in self.receptacles)

    @property
    def room(self) -> str:
        return next(room for room, numbers in constants.SCENE_TYPE.items() if self.number in numbers)


def coordinate(value: float) -> str:
    """One coordinate the way AI2-THOR writes it in an object id: sign, two digits, two decimals."""
    return format(value, "+06.2f")


def object_id(cls: str, x: float, y: float, z: float) -> str:
    return f"{cls}|{coordinate(x)}|{coordinate(y)}|{coordinate(z)}"


def grid_location(x: float, z: float, rotation: float, horizon: float) -> tuple[int, int, int, int]:
    return (round(x / GRID_STEP), round(z / GRID_STEP), round(rotation / 90) % 4, int(horizon))


def scene_numbers() -> list[int]:
    """Floor plans for which the wheel ships both the receptacle poses and the class list."""
    numbers = [int(p.name[len("FloorPlan"):-len("-openable.json")]) for p in LAYOUTS.glob("FloorPlan*-openable.json")]
    return sorted(n for n in numbers if (LAYOUTS / f"FloorPlan{n}-objects.json").exists())


@cache
def _layout(number: int) -> tuple[dict[str, list[float]], tuple[str, ...], tuple[tuple[float, float], ...]]:
    poses = json.loads((LAYOUTS / f"FloorPlan{number}-openable.json").read_text())
    classes = tuple(sorted(set(json.loads((LAYOUTS / f"FloorPlan{number}-objects.json").read_text()))))
    points = tuple(sorted((float(x), float(z)) for x, z in np.load(LAYOUTS / f"FloorPlan{number}-layout.npy")))
    return poses, classes, points


def _listed_receptacles(poses: dict[str, list[float]]) -> list[Receptacle]:
    found = []
    for thor_id, (x, z, rotation, horizon) in sorted(poses.items()):
        parts = thor_id.split("|")
        cls = parts[-1] if len(parts) > 4 else parts[0]  # "Sink|x|y|z|SinkBasin" is a SinkBasin
        if cls in STATIC_RECEPTACLES:
            found.append(Receptacle(thor_id, cls, grid_location(x, z, rotation, horizon)))
    return found


def _synthetic_receptacle(cls: str, rng: random.Random, points: tuple[tuple[float, float], ...],
                          taken: set[str]) -> Receptacle:
    while True:
        x, z = rng.choice(points)
        rotation = rng.randrange(4) * 90
        # The receptacle stands one step ahead of where the agent looks from.
        dx, dz = [(0, 1), (1, 0), (0, -1), (-1, 0)][rotation // 90]
        cx, cz = x + dx * GRID_STEP + rng.uniform(-0.1, 0.1), z + dz * GRID_STEP + rng.uniform(-0.1, 0.1)
        y = rng.uniform(0.0, 1.0)
        thor_id = object_id(BASIN_PARENT.get(cls, cls), cx, y, cz)
        if cls in BASIN_PARENT:
            thor_id += f"|{cls}"
        if thor_id not in taken:
            return Receptacle(thor_id, cls, grid_location(x, z, rotation, 30))


def load_scene(number: int, rng: random.Random) -> Scene:
    """The floor plan's receptacles, completed with synthetic ones drawn from `rng`."""
    poses, classes, points = _layout(number)
    receptacles = _listed_receptacles(poses)
    present = {r.cls for r in receptacles}
    taken = {r.id for r in receptacles}
    for cls in sorted(set(classes) & STATIC_RECEPTACLES - present):
        for _ in range(SYNTHETIC_COUNT.get(cls, 1)):
            receptacle = _synthetic_receptacle(cls, rng, points, taken)
            receptacles.append(receptacle)
            taken.add(receptacle.id)
    # A scene lists "Sink" or "Bathtub" among its objects rather than the basin inside it.
    for basin, parent in sorted(BASIN_PARENT.items()):
        if parent in classes and basin not in {r.cls for r in receptacles}:
            receptacle = _synthetic_receptacle(basin, rng, points, taken)
            receptacles.append(receptacle)
            taken.add(receptacle.id)
    return Scene(number, tuple(receptacles), classes, points)
