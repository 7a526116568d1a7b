"""The environment options of the commands that play (play, eval, train): which one, and ALFWorld's games."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from vlm_agent.envs.alfworld.memory import MEMORY_STYLES
from vlm_agent.envs.card_game import RENDER_STYLES

ALFWORLD_ID = "vlm_agent/ALFWorld-v0"
ALFWORLD_MEMORY = (*MEMORY_STYLES, "off")  # envs/alfworld/env.py's MEMORY_CHOICES, without importing the engine

@dataclass
class EnvOptions:
    env: str = field(metadata={"argument": True,
                               "help": "Environment: numberline, ezpoints, points24, blackjack, alfworld, or a full id."})
    alfworld_data: Optional[Path] = field(default=None, metadata={
        "help": "ALFWorld data folder (default: $ALFWORLD_DATA, else generated games)."})
    split: str = field(default="valid_seen", metadata={"help": "ALFWorld split: train, valid_seen or valid_unseen."})
    render: str = field(default="clear", metadata={
        "help": "Card-game frames: clear (big legible ranks, what the shipped model was trained on) or paper "
                "(the paper's card faces and sizes). Logged per step as info['render'].",
        "choices": RENDER_STYLES})
    memory: str = field(default="ranked", metadata={
        "help": "ALFWorld: keep a memory of what the agent has observed (places searched and what each held, open or "
                "closed, what it holds and has done) and show it in the prompt. ranked: unsearched places likeliest "
                "first for what is sought (a prior from the train games); grouped: by kind, alphabetically; off: the "
                "paper's prompt, recent steps instead; ranked-random: a training augmentation for teacher data (the "
                "ranked line's words, the kinds in an order drawn per game, which the teacher follows); ranked-head, "
                "ranked-head-random: the same with the line's first place written alone (exp23: no gain over ranked).",
        "choices": ALFWORLD_MEMORY})

    def __post_init__(self) -> None:
        if self.render not in RENDER_STYLES:
            raise ValueError(f"unknown render {self.render!r}; use one of {', '.join(RENDER_STYLES)}")
        if self.memory not in ALFWORLD_MEMORY:
            raise ValueError(f"unknown memory {self.memory!r}; use one of {', '.join(ALFWORLD_MEMORY)}")

    def env_id(self) -> str:
        from vlm_agent.envs import resolve_env_id

        return resolve_env_id(self.env)

    def split_label(self) -> str:
        """ALFWorld's split and where its games come from, for results: "valid_seen (official)",
        "valid_unseen (generated, seed 7)"."""
        from vlm_agent.envs.alfworld.engine.games import data_origin

        return f"{self.split} ({data_origin(self.alfworld_data)})"

    def env_kwargs(self) -> dict:
        """The gymnasium keyword arguments: ALFWorld's split, data folder and memory; the card games' frame style."""
        if self.env_id() != ALFWORLD_ID:
            return {"render": self.render}
        if self.render != "clear":
            # ALFWorld has one frame, a drawn schematic; the paper's was AI2-THOR's first-person view.
            raise ValueError(f"--render {self.render} applies to the card games; ALFWorld has only its schematic frame")
        kwargs: dict = {"split": self.split, "memory": self.memory}
        if self.alfworld_data is not None:
            if not self.alfworld_data.is_dir():
                raise FileNotFoundError(f"{self.alfworld_data}: no such ALFWorld data folder")
            kwargs["data_dir"] = str(self.alfworld_data)
        return kwargs
