"""Save and restore a trainer's optimizer, scheduler, counters and RNG inside a checkpoint folder."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "trainer_state.pt"
COUNTERS_FILE = "trainer_state.json"


def save_trainer_state(folder: Path, optimizer, scheduler, counters: dict) -> None:
    folder = Path(folder)
    torch.save(
        {
            "optimizer": optimizer.state_dict() if optimizer is not None else None,  # None: sharded (FSDP), not saved
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        },
        folder / STATE_FILE,
    )
    (folder / COUNTERS_FILE).write_text(json.dumps(counters, indent=2, sort_keys=True) + "\n")


def load_trainer_state(folder: Path, optimizer, scheduler) -> dict:
    """Restore optimizer, scheduler and RNG from `folder`; return its counters ({} if none saved)."""
    folder = Path(folder)
    if not (folder / STATE_FILE).exists():
        return {}
    # On the CPU first: a state saved on a GPU resumes anywhere (the optimizer moves it to its parameters).
    state = torch.load(folder / STATE_FILE, weights_only=False, map_location="cpu")
    if state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return json.loads((folder / COUNTERS_FILE).read_text())
