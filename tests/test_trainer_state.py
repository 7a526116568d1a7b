"""Trainer state: restores optimizer, scheduler and RNG exactly, and never runs code from the file."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from vlm_agent.training.trainer_state import (
    COUNTERS_FILE,
    STATE_FILE,
    UnsafeTrainerStateError,
    load_trainer_state,
    save_trainer_state,
)


def trainer():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return model, optimizer, scheduler


def trained():
    model, optimizer, scheduler = trainer()
    for _ in range(3):
        model(torch.ones(1, 3)).sum().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)], np.random.randn()


def test_state_round_trips_optimizer_scheduler_counters_and_every_rng(tmp_path):
    _, optimizer, scheduler = trained()
    np.random.randn()  # leaves a cached Gaussian in numpy's state, which must travel too
    save_trainer_state(tmp_path, optimizer, scheduler, {"step": 3})
    expected = draws()
    _, fresh_optimizer, fresh_scheduler = trainer()
    assert load_trainer_state(tmp_path, fresh_optimizer, fresh_scheduler) == {"step": 3}
    assert draws() == expected
    assert fresh_scheduler.last_epoch == 3 and fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    saved, restored = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(saved[k]["exp_avg"], restored[k]["exp_avg"]) for k in saved)


def test_state_file_loads_with_plain_weights_only(tmp_path):
    _, optimizer, scheduler = trained()
    save_trainer_state(tmp_path, optimizer, scheduler, {})
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)  # no allowlist needed
    assert state["format"] == 2 and isinstance(state["rng"]["python"][1], list)


def save_format_1(folder, optimizer, scheduler, counters):
    """save_trainer_state as it was before format 2 (RNG states pickled as numpy arrays and tuples)."""
    rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng}, folder / STATE_FILE)
    (folder / COUNTERS_FILE).write_text(json.dumps(counters))


def test_checkpoints_written_before_still_resume(tmp_path):
    _, optimizer, scheduler = trained()
    save_format_1(tmp_path, optimizer, scheduler, {"step": 3})
    expected = draws()
    _, fresh_optimizer, fresh_scheduler = trainer()
    assert load_trainer_state(tmp_path, fresh_optimizer, fresh_scheduler) == {"step": 3}
    assert draws() == expected and fresh_scheduler.last_epoch == 3


class RunsCode:
    """Unpickling this calls open(marker, "w"): it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_state_file_that_would_run_code_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "code_ran"
    _, optimizer, scheduler = trained()
    save_trainer_state(tmp_path, optimizer, scheduler, {"step": 3})
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    state["rng"]["python"] = RunsCode(marker)
    torch.save(state, tmp_path / STATE_FILE)
    with pytest.raises(UnsafeTrainerStateError) as error:
        load_trainer_state(tmp_path, *trainer()[1:])
    assert not marker.exists()
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / STATE_FILE) in message and "io.open" in message
    assert "delete this file" in message


def test_the_refusal_reaches_the_user_as_one_line_and_exit_2(tmp_path, capsys):
    import typer

    from vlm_agent.cli.main import user_errors

    torch.save({"format": 2, "rng": RunsCode(tmp_path / "code_ran")}, tmp_path / STATE_FILE)
    with pytest.raises(typer.Exit) as exit_, user_errors():
        load_trainer_state(tmp_path, *trainer()[1:])
    assert exit_.value.exit_code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and not (tmp_path / "code_ran").exists()


def test_without_a_state_file_the_counters_still_resume(tmp_path):
    _, optimizer, scheduler = trained()
    save_trainer_state(tmp_path, optimizer, scheduler, {"step": 3})
    (tmp_path / STATE_FILE).unlink()  # what the refusal tells a user to do
    _, fresh_optimizer, fresh_scheduler = trainer()
    assert load_trainer_state(tmp_path, fresh_optimizer, fresh_scheduler) == {"step": 3}
    assert fresh_scheduler.last_epoch == 0
