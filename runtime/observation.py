"""Turn what a gymnasium environment returns into the agent's Observation."""
from __future__ import annotations

import numpy as np

from vlm_agent.agent.interface import Observation


def observation_from(env_id: str, frame: np.ndarray, info: dict, sample_key: tuple[int, ...] = ()) -> Observation:
    """Build an Observation from a vlm_agent environment's frame and info (see TextActionEnv)."""
    return Observation(
        env_id=env_id,
        frame=frame,
        text=info.get("text", ""),
        legal_actions=tuple(info.get("legal_actions", ())),
        task_type=info.get("task_type", ""),
        task_text=info.get("task_text", ""),
        state=info.get("state", {}),
        history=tuple(info.get("history", ())),
        memory=info.get("memory", ""),
        sample_key=sample_key,
    )
