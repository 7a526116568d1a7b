"""The training view: versions and their lineage, per-update diagnostics as curves, the data side, warnings.

Live (`finetune --watch`, `train`): the CLI's training job runs in a worker thread with hooks that
put events in a Feed; this app drains them on the UI thread and never calls the trainer. Replay
(`vlm-agent replay ROOT`): the same screen from the root's metrics.jsonl, with no job.
"""
from __future__ import annotations

import threading
import time

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Static

from vlm_agent.tui.curve_plot import CurvePlot, Line
from vlm_agent.tui.feed import Feed
from vlm_agent.tui.train_control import Finished, Phase, TrainControl, TrainJob, Updated, Warned, hooks_for
from vlm_agent.tui.train_history import DIAGNOSTICS, Thresholds, TrainHistory

VERSION_ROWS = 12  # the newest ones; older versions scroll off the top
# Drawing costs Python on the UI thread, and so the GIL and the CPU an update needs: nine plotext
# charts take ~0.1-0.3 s, a repaint of the text boxes some ms. So the screen follows the trainer
# once a second (never once per event), repaints only boxes whose content changed, and while an
# update runs the curves wait (at most this long) until the loop waits for episodes or plays.
REFRESH_SECONDS = 1.0
MAX_DEFER_SECONDS = 30.0


def short_version(name: str) -> str:
    """v000012 -> v12: the side column is narrow and the zeros say nothing."""
    return f"v{int(name[1:])}" if name[:1] == "v" and name[1:].isdigit() else name


class TrainFeedReady(Message):
    """The training thread put events in the feed."""


class TrainApp(App):
    """Watch a PPO run learn: live beside the trainer, or replayed from a checkpoint root."""

    CSS_PATH = "train_view.tcss"
    TITLE = "vlm-agent train"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("u", "update_now", "Publish now"),
        Binding("q,ctrl+c", "quit", "Quit"),
    ]

    def __init__(self, history: TrainHistory, job: TrainJob | None = None, *, title: str = "", limits: Thresholds = Thresholds(),
                 control: TrainControl | None = None, clock=time.time):
        super().__init__()
        self.history = history
        self.job = job
        self.title_line = title
        self.limits = limits
        self.control = control or TrainControl()
        self.clock = clock
        self.feed = Feed(lambda: self.post_message(TrainFeedReady()))
        self.finished: Finished | None = None if job is not None else Finished()
        self.quitting = False
        self.error: BaseException | None = None
        self.stopped = threading.Event()
        if job is None:
            self.stopped.set()
        self.worker = None
        self._curves_stale = True
        self._curves_drawn_at = time.monotonic()
        self._shown: dict[str, object] = {}  # what each text box shows now, to skip repaints of the same

    def compose(self) -> ComposeResult:
        yield Static(id="train-status")
        with Horizontal(id="train-main"):
            with Vertical(id="train-side"):
                yield Static(id="versions")
                yield Static(id="data")
                yield Static(id="warnings")
            with Grid(id="curves"):
                for key, _ in DIAGNOSTICS:
                    yield CurvePlot(id=f"curve-{key}", classes="curve")
                yield CurvePlot(id="curve-played", classes="curve")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#versions").border_title = "versions"
        self.query_one("#data").border_title = "data"
        self.query_one("#warnings").border_title = "warnings"
        if self.job is not None:
            self.worker = self.run_worker(self._train, thread=True, name="training", exit_on_error=False)
        self.set_interval(REFRESH_SECONDS, self._tick)
        self.refresh_text()
        self.refresh_curves()

    def on_unmount(self) -> None:
        self.control.request_stop()

    # Worker thread: the training job and what it reports.
    def _train(self) -> None:
        error = ""
        try:
            self.job(hooks_for(self.feed, self.control, self.clock))
        except Exception as exc:  # noqa: BLE001  (the launcher raises it again after the app exits)
            self.error, error = exc, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        finally:
            self.stopped.set()
            self.feed.put(Finished(error))

    # UI thread.
    def on_train_feed_ready(self, _: TrainFeedReady) -> None:
        updated = False
        for event in self.feed.drain():
            if isinstance(event, Updated):
                self.history.add(event.point)
                updated = True
            elif isinstance(event, Phase):
                if event.phase != self.history.phase or event.waiting != self.history.episodes_waiting:
                    self.history.phase_since = event.at
                self.history.phase, self.history.episodes_waiting = event.phase, event.waiting
            elif isinstance(event, Warned) and event.line not in self.history.trainer_warnings:  # a skipped file warns at every read
                self.history.trainer_warnings.append(event.line)
            elif isinstance(event, Finished):
                self.finished = event
        if self.finished is not None and self.quitting:
            self.exit()
            return
        self._curves_stale |= updated
        if self.finished is not None:
            self._tick()  # the end is shown at once; everything else at the next tick

    def _tick(self) -> None:
        self.refresh_text()
        busy = self.history.phase == "updating" and self.finished is None
        if self._curves_stale and (not busy or time.monotonic() - self._curves_drawn_at > MAX_DEFER_SECONDS):
            self.refresh_curves()

    def refresh_text(self) -> None:
        status = self._status_line()
        self._show("#train-status", status.plain, lambda: status)
        self._show("#versions", tuple(self.history.versions()), self._versions_table)
        self._show("#data", tuple(self.history.data_side().items()), self._data_table)
        warnings = self.history.warnings(self.clock(), self.limits)
        if self._show("#warnings", tuple(warnings), lambda: Text("\n".join(f"⚠ {w}" for w in warnings), style="yellow")
                      if warnings else Text("none", style="dim")):
            self.query_one("#warnings").set_class(bool(warnings), "alert")

    def _show(self, selector: str, key: object, content) -> bool:
        """Put `content()` in the box `selector` unless it already shows `key`; True if it changed."""
        if self._shown.get(selector) == key:
            return False
        self._shown[selector] = key
        self.query_one(selector, Static).update(content())
        return True

    def refresh_curves(self) -> None:
        self._curves_stale, self._curves_drawn_at = False, time.monotonic()
        limits = {"approx_kl": self.limits.approx_kl, "clip_fraction": self.limits.clip_fraction}
        for key, label in DIAGNOSTICS:
            xs, ys = self.history.series(key)
            self.query_one(f"#curve-{key}", CurvePlot).show(label, [Line(label, tuple(xs), tuple(ys))], limits.get(key))
        xs, success = self.history.series("success_rate")
        rx, returns = self.history.series("mean_return")
        self.query_one("#curve-played", CurvePlot).show("success, return", [
            Line("success", tuple(xs), tuple(success), "green"), Line("return", tuple(rx), tuple(returns), "magenta", right=True)])

    def _status_line(self) -> Text:
        line = Text(self.title_line or "training", style="bold")
        line.append(f" · {self.history.latest_version or '—'} · {len(self.history.points)} updates  ")
        return line.append_text(self._run_state())

    def _run_state(self) -> Text:
        if self.finished is not None:
            if self.finished.error:
                return Text(f"■ stopped: {self.finished.error}", style="bold red")
            return Text("■ replay · q quits" if self.job is None else "■ finished · q quits", style="bold green")
        if self.quitting:
            return Text("finishing the update in progress…", style="bold yellow")
        phase, seconds = self.history.phase, max(0.0, self.clock() - self.history.phase_since)
        if self.control.paused:
            return Text("‖ paused" + (" after this update" if phase == "updating" else ""), style="bold yellow")
        if phase == "waiting":
            return Text(f"… waiting for episodes ({self.history.episodes_waiting} new, {seconds:.0f} s)", style="yellow")
        if phase:
            return Text(f"▶ {phase} ({seconds:.0f} s)", style="green")
        return Text("▶ starting", style="green")

    def _versions_table(self) -> Table:
        table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
        for name, justify in (("version", "left"), ("from", "left"), ("success", "right"), ("return", "right")):
            table.add_column(name, justify=justify, no_wrap=True)
        for row in self.history.versions()[-VERSION_ROWS:]:
            table.add_row(short_version(row.name), short_version(row.parent) or "—",
                          "—" if row.success_rate is None else f"{row.success_rate:.0%}",
                          "—" if row.mean_return is None else f"{row.mean_return:+.2f}")
        return table

    def _data_table(self) -> Table:
        table = Table(box=None, padding=(0, 1), expand=True, show_header=False)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for name, value in self.history.data_side().items():
            shown = "—" if value is None else f"{value:.1f}" if name in ("seconds per update", "updates per hour") else f"{value:.0f}"
            table.add_row(name, shown)
        return table

    # Keys.
    def action_toggle_pause(self) -> None:
        self.control.toggle_pause()
        self.refresh_text()

    def action_update_now(self) -> None:
        self.control.request_update()
        self.notify("the next update starts with the episodes there are", timeout=3)

    async def action_quit(self) -> None:
        """Stop after the update in progress (it is published); exit once the training thread has returned."""
        self.control.request_stop()
        if self.finished is not None or self.stopped.is_set():
            self.exit()
        else:
            self.quitting = True
            self.refresh_text()
