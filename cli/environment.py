"""The environment options of the commands that play (play, eval, train): which one, and ALFWorld's games."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class EnvOptions:
    env: str = field(metadata={"argument": True,
                               "help": "Environment: numberline, ezpoints, points24, blackjack, alfworld, or a full id."})
    alfworld_data: Optional[Path] = field(default=None, metadata={
        "help": "ALFWorld data folder (default: $ALFWORLD_DATA, else generated games)."})
    split: str = field(default="valid_seen", metadata={"help": "ALFWorld split: train, valid_seen or valid_unseen."})

    def env_id(self) -> str:
        from vlm_agent.envs import resolve_env_id

        return resolve_env_id(self.env)

    def env_kwargs(self) -> dict:
        """The gymnasium keyword arguments: ALFWorld's split and data folder; none for the card games."""
        if self.env_id() != "vlm_agent/ALFWorld-v0":
            return {}
        kwargs: dict = {"split": self.split}
        if self.alfworld_data is not None:
            if not self.alfworld_data.is_dir():
                raise FileNotFoundError(f"{self.alfworld_data}: no such ALFWorld data folder")
            kwargs["data_dir"] = str(self.alfworld_data)
        return kwargs
