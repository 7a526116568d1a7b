"""Text the default tokenizer is trained on: prompts and expert answers from every environment."""
from __future__ import annotations

from typing import Iterator

import gymnasium as gym

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.prompts import VARIANTS
from vlm_agent.runtime.observation import observation_from

CARD_ENVS = ("vlm_agent/NumberLine-v0", "vlm_agent/EZPoints-v0", "vlm_agent/Points24-v0", "vlm_agent/Blackjack-v0")


def expert_texts(env_ids=CARD_ENVS, episodes: int = 30, seed: int = 0) -> Iterator[str]:
    """Prompts and answers of `episodes` expert episodes per environment, in both prompt variants."""
    import vlm_agent.envs  # noqa: F401  (registers the environments)

    for variant in VARIANTS:
        agent = ExpertAgent(prompt_variant=variant, seed=seed)
        for env_id in env_ids:
            env = gym.make(env_id)
            for episode in range(episodes):
                frame, info = env.reset(seed=seed + episode)
                done = False
                while not done:
                    decision = agent.act([observation_from(env_id, frame, info)])[0]
                    yield decision.prompt
                    yield decision.text
                    frame, _, terminated, truncated, info = env.step(decision.parse.action)
                    done = terminated or truncated
            env.close()
