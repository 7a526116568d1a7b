"""vlm_agent's gymnasium environments, registered as vlm_agent/<Name>-v0."""
from __future__ import annotations

import gymnasium as gym

# Short names the CLI accepts, mapped to registered ids.
SHORT_NAMES = {
    "numberline": "vlm_agent/NumberLine-v0",
    "ezpoints": "vlm_agent/EZPoints-v0",
    "points24": "vlm_agent/Points24-v0",
    "blackjack": "vlm_agent/Blackjack-v0",
    "alfworld": "vlm_agent/ALFWorld-v0",
}

_ENTRY_POINTS = {
    "vlm_agent/NumberLine-v0": "vlm_agent.envs.numberline:NumberLineEnv",
    "vlm_agent/EZPoints-v0": "vlm_agent.envs.points:EZPointsEnv",
    "vlm_agent/Points24-v0": "vlm_agent.envs.points:Points24Env",
    "vlm_agent/Blackjack-v0": "vlm_agent.envs.blackjack:BlackjackEnv",
    "vlm_agent/ALFWorld-v0": "vlm_agent.envs.alfworld.env:ALFWorldEnv",
}


def register_envs() -> None:
    """Register every environment with gymnasium (idempotent; also run by gymnasium's plugin hook)."""
    for env_id, entry_point in _ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)


def resolve_env_id(name: str) -> str:
    """Accept a short name ("numberline"), a full id, or a case variant; raise ValueError otherwise."""
    key = name.strip().lower()
    if key in SHORT_NAMES:
        return SHORT_NAMES[key]
    for env_id in _ENTRY_POINTS:
        if env_id.lower() == key or env_id.split("/")[1].split("-")[0].lower() == key:
            return env_id
    known = ", ".join(SHORT_NAMES)
    raise ValueError(f"unknown environment {name!r}; known: {known}")


register_envs()
