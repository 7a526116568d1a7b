"""Pause, single step, speed and fast-forward for the runtime loop, and the worker that obeys them.

The UI thread calls PlayControl's commands; the worker thread (`drive`) asks it before each step.
Nothing here knows about textual, so the pacing logic is testable on its own.
"""
from __future__ import annotations

import threading
import time

from vlm_agent.agent.human import HumanCancelled
from vlm_agent.runtime.loop import RolloutLoop
from vlm_agent.runtime.records import StepRecord
from vlm_agent.tui.feed import Ended, Feed, Turn, TurnRow

# Shortest time one step is shown, per speed level (0 = as fast as the agent goes).
STEP_SECONDS = (0.0, 0.05, 0.15, 0.4, 1.0, 2.5)
DEFAULT_SPEED = 3


class PlayControl:
    """The user's wishes about pacing, shared by the UI thread and the worker thread."""

    def __init__(self, speed: int = DEFAULT_SPEED, paused: bool = False):
        self._changed = threading.Condition()
        self.speed = speed
        self.paused = paused
        self.fast_forward_env: int | None = None  # run unpaced until this env's episode ends, then pause
        self.quitting = False
        self._steps_granted = 0

    @property
    def step_seconds(self) -> float:
        return STEP_SECONDS[self.speed]

    # Commands from the UI thread.
    def toggle_pause(self) -> None:
        self._update(paused=not self.paused, fast_forward_env=None, _steps_granted=0)

    def step_once(self) -> None:
        with self._changed:
            self._steps_granted += 1
        self._update(paused=True, fast_forward_env=None)

    def change_speed(self, delta: int) -> None:
        self._update(speed=min(len(STEP_SECONDS) - 1, max(0, self.speed - delta)))

    def fast_forward(self, env_index: int) -> None:
        self._update(paused=False, fast_forward_env=env_index)

    def quit(self) -> None:
        self._update(quitting=True)

    def _update(self, **changes) -> None:
        with self._changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self._changed.notify_all()

    # Questions from the worker thread.
    def wait_for_turn(self) -> bool:
        """Block while paused (unless a single step was granted); False once quitting."""
        with self._changed:
            self._changed.wait_for(lambda: self.quitting or not self.paused or self._steps_granted > 0)
            if self.quitting:
                return False
            if self.paused:
                self._steps_granted -= 1
            return True

    def after_step(self, records: list[StepRecord], started: float) -> None:
        """Pause when a fast-forward reached its episode's end; else hold the step on screen a while."""
        with self._changed:
            if self.fast_forward_env is not None:
                if any(r.env_index == self.fast_forward_env and r.done for r in records):
                    self.fast_forward_env, self.paused = None, True
                return
            # Wake early on quit or pause; a speed change applies from the next step.
            remaining = started + self.step_seconds - time.monotonic()
            if remaining > 0:
                self._changed.wait_for(lambda: self.quitting or self.paused, timeout=remaining)


def drive(loop: RolloutLoop, control: PlayControl, feed: Feed) -> None:
    """Step `loop` as `control` allows, telling `feed` what happens; runs in the worker thread.

    Each step is announced (Turn) before the agent is called, so the UI shows the frame while the
    model thinks; the records themselves reach the feed through the bus.
    """
    error = ""
    try:
        if loop.episodes_started == 0:
            loop.start()
        while not loop.finished and control.wait_for_turn():
            slots = loop.active_slots()
            if not slots:
                break
            feed.put(Turn(tuple(TurnRow(s.index, s.episode_id, s.step, s.obs) for s in slots)))
            started = time.monotonic()
            records = loop.step()
            control.after_step(records, started)
    except HumanCancelled:
        pass  # the person quit while the agent waited for them
    except Exception as exc:  # shown in the UI, re-raised by the launcher after the log is closed
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        feed.put(Ended(error))
