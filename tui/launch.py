"""Entry points the CLI calls: the live play view and replay."""
from __future__ import annotations

from pathlib import Path

# textual-image asks the terminal what graphics it supports; that only works before textual
# starts reading stdin, so the widget module is imported here, before any app runs.
import textual_image.widget  # noqa: F401

from vlm_agent.runtime.play import PlaySession


def run_play_tui(session: PlaySession) -> dict:
    """Run the live view until the user quits; close the log exactly once; return the summary.

    An error inside the runtime is shown in the view and raised again here, after every finished
    episode has been written.
    """
    from vlm_agent.tui.play_app import PlayApp

    app = PlayApp(session)
    try:
        app.run()
    finally:
        app.stop_runtime()
        if app.worker is not None:
            app.stopped.wait()
        summary = session.finish()
    if app.error is not None:
        raise app.error
    summary["interrupted"] = False
    return summary


def run_replay(log_dir: Path) -> None:
    """Browse the episodes logged under `log_dir` (a log root, a run folder or an episode file)."""
    from vlm_agent.tui.replay_app import ReplayApp

    ReplayApp(Path(log_dir)).run()
