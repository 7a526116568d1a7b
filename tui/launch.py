"""Entry points the CLI calls: the live play view and replay."""
from __future__ import annotations

from pathlib import Path

# textual-image asks the terminal what graphics it supports; that only works before textual
# starts reading stdin, so the widget module is imported here, before any app runs.
import textual_image.widget  # noqa: F401

from vlm_agent.runtime.play import PlaySession


def run_play_tui(session: PlaySession) -> dict:
    """Run the live view until the user quits; close the log exactly once (keeping the episodes in progress); return the summary.

    An error inside the runtime is shown in the view and raised again here, after every finished
    episode has been written.
    """
    from vlm_agent.tui.play_app import PlayApp

    app = PlayApp(session)
    try:
        app.run()
    finally:
        summary = app.close_session()
    if app.error is not None:
        raise app.error
    summary["interrupted"] = False
    return summary


def run_replay(log_dir: Path) -> None:
    """Browse the episodes logged under `log_dir` (a log root, a run folder or an episode file)."""
    from vlm_agent.tui.replay_app import ReplayApp

    ReplayApp(Path(log_dir)).run()


def run_train_view(job, start_version: str, title: str, interrupted=lambda: False):
    """Run `job` (a training loop given the view's hooks) in a worker thread under the training view.

    Returns once the user quit and the update in progress was published (or the job finished and
    the user quit); an error inside the job is raised again here. Returns the history shown.
    """
    from vlm_agent.tui.train_app import TrainApp
    from vlm_agent.tui.train_control import TrainControl
    from vlm_agent.tui.train_history import TrainHistory

    app = TrainApp(TrainHistory(start_version=start_version), job, title=title, control=TrainControl(interrupted))
    try:
        app.run()
    finally:
        app.control.request_stop()
        if app.worker is not None:
            app.stopped.wait()
    if app.error is not None:
        raise app.error
    return app.history


def run_train_replay(root: Path) -> None:
    """The training view of a finished (or running) checkpoint root, from its metrics.jsonl."""
    from vlm_agent.tui.train_app import TrainApp
    from vlm_agent.tui.train_history import read_metrics_history

    TrainApp(read_metrics_history(Path(root)), title=f"replay {root}").run()
