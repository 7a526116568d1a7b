"""Goal-condition success: the fraction of a task's sub-goals that hold, as ALFRED counts them.

The TextWorld engine reports only `won`; the paper's reward also uses ALFRED's goal-condition
success (alfworld/env/tasks.py, computed there from AI2-THOR metadata). The same counts are read
here from the PDDL facts: place 1; look 2 (target held, lamp on where the agent is); clean/heat/cool
3 (in place, changed, both at once); pick-two 2 (one per target in one receptacle of the goal class).
"""
from __future__ import annotations

from vlm_agent.envs.alfworld.view import facts_by_name

_CHANGED = {
    "pick_clean_then_place_in_recep": "isclean",
    "pick_heat_then_place_in_recep": "ishot",
    "pick_cool_then_place_in_recep": "iscool",
}


def goal_condition_success(facts, task_type: str, params: dict) -> float:
    """Sub-goals met / sub-goals, in [0, 1]."""
    by = facts_by_name(facts)
    targets = _of_type(by, "objecttype", params.get("object_target", ""))
    goals = _of_type(by, "receptacletype", params.get("parent_target", ""))
    placed = [(o, r) for o, r in by.get("inreceptacle", []) if o in targets and r in goals]
    if task_type == "look_at_obj_in_light":
        lamps = _of_type(by, "objecttype", params.get("toggle_target", ""))
        held = any(o in targets for _, o in by.get("holds", []))
        here = {loc for _, loc in by.get("atlocation", [])}
        stands_here = {r for r, loc in by.get("receptacleatlocation", []) if loc in here}
        lit = any((lamp,) in by.get("istoggled", []) and r in stands_here
                  for lamp, r in by.get("inreceptacle", []) if lamp in lamps)
        return (held + lit) / 2
    if task_type == "pick_two_obj_and_place":
        per_receptacle = [sum(1 for _, r in placed if r == goal) for goal in goals]
        return min(max(per_receptacle, default=0), 2) / 2
    if task_type in _CHANGED:
        changed = {o for (o,) in by.get(_CHANGED[task_type], []) if o in targets}
        return (bool(placed) + bool(changed) + any(o in changed for o, _ in placed)) / 3
    return float(bool(placed))


def _of_type(by: dict, predicate: str, cls: str) -> set[str]:
    if not cls:
        return set()
    wanted = f"{cls}Type".lower()
    return {thing for thing, kind in by.get(predicate, []) if kind.lower() == wanted}
