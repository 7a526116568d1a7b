"""Save and restore a trainer's optimizer, scheduler, counters and RNG inside a checkpoint folder.

The state is tensors and plain data only (RNG states as lists of ints), so it loads with
`torch.load(weights_only=True)`: resuming from a checkpoint root someone shared must not run code
hidden in its pickle. A file that needs anything else to load is refused with one line.
"""
from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "trainer_state.pt"
COUNTERS_FILE = "trainer_state.json"
FORMAT = 2  # 1 (no "format" key): RNG states pickled as numpy arrays and tuples

# Files of format 1 hold numpy's RNG state as a uint32 array: these rebuild an array or a dtype from
# data and call nothing else, so they are allowed (under both names numpy has given _reconstruct).
_multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # numpy 2 / 1
_FORMAT_1_GLOBALS = [
    _multiarray._reconstruct,
    (_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    (_multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
]


class UnsafeTrainerStateError(ValueError):
    """A trainer state file that cannot be loaded without running code from it."""


def save_trainer_state(folder: Path, optimizer, scheduler, counters: dict) -> None:
    folder = Path(folder)
    numpy_state = np.random.get_state(legacy=False)
    version, python_state, gauss = random.getstate()
    torch.save(
        {
            "format": FORMAT,
            "optimizer": optimizer.state_dict() if optimizer is not None else None,  # None: sharded (FSDP), not saved
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": {**numpy_state, "state": {**numpy_state["state"], "key": numpy_state["state"]["key"].tolist()}},
                "python": [version, list(python_state), gauss],
            },
        },
        folder / STATE_FILE,
    )
    (folder / COUNTERS_FILE).write_text(json.dumps(counters, indent=2, sort_keys=True) + "\n")


def load_trainer_state(folder: Path, optimizer, scheduler) -> dict:
    """Restore optimizer, scheduler and RNG from `folder`; return its counters ({} if none saved).

    Without a state file (a start version, or one deleted to resume with a fresh optimizer and RNG)
    only the counters are returned. UnsafeTrainerStateError if the file would need to run code.
    """
    folder = Path(folder)
    counters_file = folder / COUNTERS_FILE
    counters = json.loads(counters_file.read_text()) if counters_file.exists() else {}
    if not (folder / STATE_FILE).exists():
        return counters
    state = read_trainer_state(folder / STATE_FILE)
    if state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if state.get("format", 1) >= 2:
        numpy_state = rng["numpy"]
        np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": np.array(numpy_state["state"]["key"], dtype=np.uint32)}})
        version, python_state, gauss = rng["python"]
        random.setstate((version, tuple(python_state), gauss))
    else:
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
    return counters


def read_trainer_state(path: Path) -> dict:
    """The state dict in `path`, loaded with weights_only=True (format 1's numpy arrays allowed)."""
    with torch.serialization.safe_globals(_FORMAT_1_GLOBALS):
        try:
            # On the CPU first: a state saved on a GPU resumes anywhere (the optimizer moves it to its parameters).
            return torch.load(path, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError:
            needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)  # reads opcodes, runs nothing
    names = ", ".join(needed[:3]) + (", ..." if len(needed) > 3 else "") or "objects that are not plain data"
    raise UnsafeTrainerStateError(
        f"{path}: refused: loading it would unpickle {names}, which can run code; a trainer state holds only"
        f" tensors and plain data. Resume only checkpoints you trust; to keep the weights and start a fresh"
        f" optimizer, scheduler and RNG, delete this file and resume again"
    )
