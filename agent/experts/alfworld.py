"""ALFWorld privileged expert (`expert-privileged`): alfworld's handcoded expert (with the project's fix).

Its `go to X` comes from where objects really are (the engine's facts), which no prompt shows;
`expert` is the teacher of alfworld_teacher.py, which decides from what the agent sees.

The environment runs the expert beside the game (it tracks the episode's history itself) and puts
its next command in `obs.state["expert_action"]`; this function adds thoughts built only from what
the prompt shows (task, place, hand), so its answers are supervised CoT data.
"""
from __future__ import annotations

import random

from vlm_agent.agent.interface import Observation


def alfworld_expert(obs: Observation, rng: random.Random) -> tuple[str, str]:
    state = obs.state
    action = state.get("expert_action", "")
    place = f"I am at {state['location']}" if state.get("location") else "I am in the middle of the room"
    hand = f"holding {', '.join(state['holding'])}" if state.get("holding") else "holding nothing"
    situation = f"The task is to {obs.task_text}. {place}, {hand}."
    if action not in obs.legal_actions:  # the expert has given up: explore
        action = rng.choice(list(obs.legal_actions))
        return f"{situation} I am not sure what to do next, so I try {action}.", action
    return f"{situation} {_reason(action, state)}", action


def _reason(action: str, state: dict) -> str:
    verb, _, rest = action.partition(" ")
    target = state.get("params", {}).get("object_target", "").lower() or "the object"
    if action.startswith("go to "):
        where = action[len("go to "):]
        if state.get("holding"):
            return f"Next I need {where}, so I go to {where}."
        return f"I am looking for a {target}; {where} is the next place to check, so I go to {where}."
    if verb in ("open", "close"):
        why = "to see what is inside" if verb == "open" else "since I am done with it"
        return f"I {verb} the {rest} {why}."
    if verb == "take":
        return f"I see what I need here, so I {action}."
    if verb in ("move", "put"):
        return f"This is where it belongs, so I {action}."
    if verb in ("heat", "cool", "clean"):
        return f"The task wants it {dict(heat='hot', cool='cool', clean='clean')[verb]}, so I {action}."
    if verb == "use":
        return f"I turn on the {rest} to look at the {target} in its light."
    return f"I {action} to see more."
