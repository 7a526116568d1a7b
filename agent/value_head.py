"""The critic: an MLP on the VLM's last hidden state of the last prompt token, saved beside the model."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS = "value_head.safetensors"
CONFIG = "value_head.json"
DEFAULT_HIDDEN = (1024, 512)  # the reference implementation's hidden -> 1024 -> 512 -> 1


class ValueHead(nn.Module):
    """hidden_size -> hidden[0] -> ... -> 1, ReLU between layers."""

    def __init__(self, input_size: int, hidden: tuple[int, ...] = DEFAULT_HIDDEN):
        super().__init__()
        self.input_size = input_size
        self.hidden = tuple(hidden)
        sizes = (input_size, *self.hidden)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, last_hidden: torch.Tensor) -> torch.Tensor:
        return self.mlp(last_hidden.float()).squeeze(-1)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS))
        (folder / CONFIG).write_text(json.dumps({"input_size": self.input_size, "hidden": list(self.hidden)}) + "\n")

    @classmethod
    def load_or_new(cls, folder: Path, input_size: int, seed: int = 0, hidden: tuple[int, ...] = DEFAULT_HIDDEN) -> tuple["ValueHead", bool]:
        """The head saved in `folder` (its own sizes), or a fresh one `input_size` -> `hidden` -> 1; returns (head, loaded)."""
        folder = Path(folder)
        if (folder / WEIGHTS).exists():
            config = json.loads((folder / CONFIG).read_text()) if (folder / CONFIG).exists() else {}
            head = cls(config.get("input_size", input_size), tuple(config.get("hidden", DEFAULT_HIDDEN)))
            head.load_state_dict(load_file(str(folder / WEIGHTS)))
            return head, True
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(input_size, hidden), False
