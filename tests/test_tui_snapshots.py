"""Snapshots of the live view, the human mode and replay in an 80x24 terminal, and the training view.

Deterministic by construction: fixed seeds, the run paused at a known step, and steps/s (the only
clock-dependent number on screen) pinned. Each test waits on what the UI has applied (`app.stats`),
never on the worker's counters: those run ahead of the screen, and a snapshot taken in between shows
the step before (a CI flake). Update with `pytest tests/test_tui_snapshots.py --snapshot-update`
after checking the new SVGs by eye.
"""
import pytest
from textual.widgets import Input
from tui_fakes import StreamingFakeVLM, char_decoder, numberline_session, wait_until

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.human import HumanAgent
from vlm_agent.runtime.stats import RunningStats
from vlm_agent.tui.play_app import PlayApp
from vlm_agent.tui.replay_app import ReplayApp
from vlm_agent.tui.train_app import TrainApp
from vlm_agent.tui.train_history import TrainHistory, UpdatePoint


@pytest.fixture(autouse=True)
def pinned_speed(monkeypatch):
    monkeypatch.setattr(RunningStats, "steps_per_second", property(lambda self: 12.5))


def snap_play(snap_compare, session, press, ready):
    app = PlayApp(session, paused=True, speed=0)

    async def run_before(pilot):
        await pilot.press(*press)
        await wait_until(pilot, lambda: ready(app))
        app.query_one(Input).cursor_blink = False  # a blinking cursor would make the picture random

    try:
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    finally:
        app.stop_runtime()
        app.stopped.wait(10)
        session.finish()


def test_live_view_after_three_expert_steps(snap_compare, tmp_path):
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=3)
    snap_play(snap_compare, session, ["s", "s", "s"], lambda app: app.stats.steps == 3)


def test_live_view_of_a_streaming_model_between_steps(snap_compare, tmp_path):
    session = numberline_session(StreamingFakeVLM(), tmp_path, episodes=2, num_envs=2)
    snap_play(snap_compare, session, ["s", "e"], lambda app: app.stats.steps == 2)


def test_human_mode_asks_for_an_admissible_action(snap_compare, tmp_path):
    session = numberline_session(HumanAgent(), tmp_path, episodes=1)
    snap_play(snap_compare, session, ["s"], lambda app: app.views[0].awaiting_human and app.query_one("#human").display)


def test_replay_of_a_model_step_with_token_colouring(snap_compare, tmp_path):
    session = numberline_session(StreamingFakeVLM(), tmp_path, episodes=1)
    session.loop.run()
    session.finish()
    assert snap_compare(ReplayApp(tmp_path, token_decoder=char_decoder), terminal_size=(80, 24), press=["right"])


def fixed_training_history() -> TrainHistory:
    """Eight updates with smooth, known diagnostics; the last one trips the KL and clip-fraction warnings."""
    history = TrainHistory(start_version="v000001")
    for u in range(1, 9):
        metrics = {"trained_from": f"v{u:06d}", "policy_loss": 0.05 / u, "value_loss": 2.0 - 0.1 * u, "approx_kl": 0.02 * u,
                   "clip_fraction": 0.2 + 0.05 * u, "explained_variance": 0.01 * u, "entropy": 0.3 - 0.01 * u, "grad_norm": 1.0 + 0.05 * (u % 3),
                   "lr": 3e-5 * (1 - u / 10), "success_rate": 0.5 + 0.05 * u, "mean_return": -2 + 0.3 * u, "episodes": 32, "samples": 200 + u,
                   "dropped_stale": 0, "update_seconds": 60.0}
        history.add(UpdatePoint.from_metrics(f"v{u + 1:06d}", metrics, u, 1000.0 + 90 * u))
    return history


def test_training_view_layout_with_fixed_data(snap_compare):
    app = TrainApp(fixed_training_history(), title="replay runs/ppo", clock=lambda: 2000.0)
    assert snap_compare(app, terminal_size=(100, 30))
