"""The live view of `vlm-agent play`: the runtime steps in a worker, its records arrive as messages."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from vlm_agent.agent.interface import Observation
from vlm_agent.runtime.play import PlaySession
from vlm_agent.runtime.records import StepRecord
from vlm_agent.tui.answer_text import answer_text
from vlm_agent.tui.episode_curve import EpisodeCurve
from vlm_agent.tui.feed import Ended, Feed, Published, Tokens, Turn, TurnRow
from vlm_agent.tui.human_panel import HumanPanel
from vlm_agent.tui.play_control import DEFAULT_SPEED, PlayControl, drive
from vlm_agent.tui.stats_view import StatsView, snapshot
from vlm_agent.tui.step_widgets import (
    AnswerView,
    FrameView,
    PromptView,
    TaskView,
    action_line,
    facts_line,
    signed,
    step_screen,
)


class FeedReady(Message):
    """The worker put events in the feed (one message however many; see Feed)."""


@dataclass
class EnvView:
    """What the UI knows about one of the parallel environments."""

    turn: TurnRow | None = None  # the observation the agent is answering now
    row: int = 0  # the turn's row in the batched agent call
    partial: str | None = None  # the answer streamed so far
    record: StepRecord | None = None  # the last finished step
    episode_id: str = ""
    episode_return: float = 0.0
    awaiting_human: bool = False


class PlayApp(App):
    """Watch (or, with the human agent, play) the runtime loop live."""

    CSS_PATH = "vlm_agent.tcss"
    TITLE = "vlm-agent play"
    ENABLE_COMMAND_PALETTE = False  # its footer entry would push Quit off an 80-column footer
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("s", "step", "Step"),
        Binding("plus,equals_sign", "speed(1)", "Speed", key_display="+/-"),
        Binding("minus", "speed(-1)", "Slower", show=False),
        Binding("n", "next_episode", "Next ep"),
        Binding("e", "next_env", "Env"),
        Binding("p", "toggle_prompt", "Prompt"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: PlaySession, *, paused: bool = False, speed: int = DEFAULT_SPEED):
        super().__init__()
        self.session = session
        self.agent = session.loop.agent
        self.control = PlayControl(speed=speed, paused=paused)
        self.feed = Feed(lambda: self.post_message(FeedReady()))
        self.views = [EnvView() for _ in range(session.loop.config.num_envs)]
        self.selected = 0
        self.stats = snapshot(session.stats)
        self.turn: tuple[TurnRow, ...] = ()
        self._asked: TurnRow | None = None  # the observation the human panel asks about
        self.ended: Ended | None = None
        self.quitting = False
        self.error: BaseException | None = None
        self.stopped = threading.Event()  # set when the worker thread has returned
        self.worker = None

    @property
    def human(self) -> bool:
        return self.agent.kind == "human"

    def compose(self) -> ComposeResult:
        yield from step_screen(HumanPanel(id="human"), Vertical(StatsView(id="stats"), EpisodeCurve(id="episode-curve"), id="below-facts"))

    def on_mount(self) -> None:
        self.query_one(HumanPanel).display = False
        self.query_one(EpisodeCurve).display = False
        self.session.bus.subscribe(self._on_record)
        if hasattr(self.agent, "stream_callback"):
            self.agent.stream_callback = self._on_tokens
        self.worker = self.run_worker(self._drive, thread=True, name="runtime", exit_on_error=False)
        self.refresh_view()

    def on_unmount(self) -> None:
        self.stop_runtime()  # however the app exits, the worker must not wait for a key press

    # Worker thread: the runtime and what it reports.
    def _drive(self) -> None:
        try:
            drive(self.session.loop, self.control, self.feed)
        except Exception as error:  # noqa: BLE001  (the launcher re-raises it once the log is closed)
            self.error = error
        finally:
            self.stopped.set()

    def _on_record(self, record: StepRecord) -> None:
        # The stats subscribed before the UI, so they already count this record.
        self.feed.put(Published(record, snapshot(self.session.stats)))

    def _on_tokens(self, partials: list[str]) -> None:
        self.feed.put(Tokens(tuple(partials)))

    def close_session(self) -> dict:
        """Once the app has exited: stop the runtime after its step in progress and close the log (once); the summary.

        The episodes the quit cut short are logged as truncated, not dropped: what was played is
        kept. After a runtime error they are dropped (the error may be the log's own).
        """
        self.stop_runtime()
        if self.worker is not None:
            self.stopped.wait()
        return self.session.finish(keep_unfinished=self.error is None)

    def stop_runtime(self) -> None:
        """Ask the worker to stop after the step in progress (thread-safe, returns at once)."""
        self.control.quit()
        if self.human:
            self.agent.cancel()

    # UI thread: apply what the worker reported.
    def on_feed_ready(self, _: FeedReady) -> None:
        for event in self.feed.drain():
            if isinstance(event, Turn):
                self._begin_turn(event)
            elif isinstance(event, Tokens):
                for row, partial in zip(self.turn, event.partials):
                    self.views[row.env_index].partial = partial
            elif isinstance(event, Published):
                self._end_step(event.record)
                self.stats = event.stats
            elif isinstance(event, Ended):
                self.ended = event
        if self.ended is not None and self.quitting:
            self.exit()
            return
        if self.human:
            self._ask_human()
        self.refresh_view()

    def _begin_turn(self, turn: Turn) -> None:
        self.turn = turn.rows
        for row_index, row in enumerate(turn.rows):
            view = self.views[row.env_index]
            view.turn, view.row, view.partial, view.awaiting_human = row, row_index, None, self.human

    def _end_step(self, record: StepRecord) -> None:
        view = self.views[record.env_index]
        if record.episode_id != view.episode_id:
            view.episode_id, view.episode_return = record.episode_id, 0.0
        view.episode_return += record.reward
        view.record, view.turn, view.partial, view.awaiting_human = record, None, None, False
        if record.done:
            self.query_one(EpisodeCurve).add(view.episode_return, bool(record.success), record.policy_version)

    def _ask_human(self) -> None:
        """Point the person at an environment that waits for their action (the shown one first)."""
        panel = self.query_one(HumanPanel)
        waiting = [i for i, view in enumerate(self.views) if view.awaiting_human]
        if not waiting:
            panel.display, self._asked = False, None
            return
        if self.selected not in waiting:
            self.selected = waiting[0]
        turn = self.views[self.selected].turn
        if self._asked is not turn:
            self._asked = turn
            panel.display = True
            panel.ask(turn.observation.legal_actions)

    def on_human_panel_chosen(self, message: HumanPanel.Chosen) -> None:
        view = self.views[self.selected]
        if not view.awaiting_human:
            return
        view.awaiting_human = False
        self.agent.submit(view.row, message.action)
        view.partial = f"(you chose {message.action!r})"
        self._ask_human()
        self.refresh_view()

    # What the screen shows: the selected environment.
    def refresh_view(self) -> None:
        view = self.views[self.selected]
        self.query_one("#status", Static).update(self._status_line(view))
        obs = view.turn.observation if view.turn else None
        record = view.record
        self.query_one(FrameView).show(obs.frame if obs else record.frame if record else None)
        if obs is not None:
            self.query_one(TaskView).show(obs.task_text, obs.text, obs.memory)
        elif record is not None:
            self.query_one(TaskView).show(record.task_text, record.observation_text)
        self.query_one(AnswerView).show(*self._answer(view, obs))
        self.query_one("#action", Static).update(self._action(view, obs))
        self.query_one("#facts", Static).update(self._facts(view))
        self.query_one(StatsView).show(self.stats)
        if record is not None:
            prompt = self.query_one(PromptView)
            prompt.title = f"prompt of step {record.step}"
            prompt.show(record.prompt)

    def _answer(self, view: EnvView, obs: Observation | None) -> tuple[Text, bool]:
        if obs is None:
            if view.record is None:
                return Text("starting…", style="italic"), False
            return answer_text(view.record.response, view.record.legal_actions), False
        if view.partial is not None:
            return answer_text(view.partial, obs.legal_actions, streaming=True), True
        text = Text("waiting for your action" if view.awaiting_human else "thinking…", style="italic")
        if view.awaiting_human and view.record is not None and view.record.episode_id == view.turn.episode_id:
            text.append(f"\n\nlast step: reward {signed(view.record.reward)}\n").append_text(action_line(view.record))
        return text, False

    def _action(self, view: EnvView, obs: Observation | None) -> Text:
        if obs is None:
            return action_line(view.record) if view.record else Text("")
        if view.awaiting_human:
            return Text("action  admissible: " + ", ".join(obs.legal_actions), style="italic")
        return Text("action  …", style="italic")

    def _facts(self, view: EnvView) -> Text:
        record = view.record if view.turn is None else None
        return facts_line(
            ("reward", signed(record.reward if record else None)),
            ("return", signed(view.episode_return)),
            ("value", signed(record.value if record else None)),
            ("policy", (record.policy_version if record else self.agent.policy_version) or "—"),
        )

    def _status_line(self, view: EnvView) -> Text:
        config = self.session.loop.config
        line = Text(f"{config.env_id.split('/')[-1]} · {self.agent.kind}", style="bold")
        if len(self.views) > 1:
            line.append(f" · env {self.selected + 1}/{len(self.views)}")
        shown = view.turn or view.record
        if shown is not None:
            line.append(f" · {shown.episode_id} step {shown.step}")
        # From the published snapshot, not the loop: the loop counts a finished episode only after
        # publishing its last record, so reading it live could show the count before (a CI flake).
        line.append(f" · episodes {self.stats.episodes}/{config.episodes}  ")
        line.append_text(self._run_state())
        return line

    def _run_state(self) -> Text:
        if self.ended is not None:
            if self.ended.error:
                return Text(f"■ stopped: {self.ended.error}", style="bold red")
            return Text("■ finished · q quits", style="bold green")
        if self.quitting:
            return Text("finishing the step in progress…", style="bold yellow")
        if self.control.fast_forward_env is not None:
            return Text("» to the end of the episode", style="yellow")
        if self.control.paused:
            return Text("‖ paused", style="bold yellow")
        seconds = self.control.step_seconds
        return Text("▶ " + (f"≥{seconds:g} s/step" if seconds else "full speed"), style="green")

    # Key bindings.
    def action_toggle_pause(self) -> None:
        self.control.toggle_pause()
        self.refresh_view()

    def action_step(self) -> None:
        self.control.step_once()
        self.refresh_view()

    def action_speed(self, delta: int) -> None:
        self.control.change_speed(delta)
        self.refresh_view()

    def action_next_episode(self) -> None:
        self.control.fast_forward(self.selected)
        self.refresh_view()

    def action_next_env(self) -> None:
        self.selected = (self.selected + 1) % len(self.views)
        if self.human:
            self._ask_human()
        self.refresh_view()

    def action_toggle_prompt(self) -> None:
        self.query_one(PromptView).toggle()

    def action_free_keys(self) -> None:
        self.set_focus(None)

    async def action_quit(self) -> None:
        """Stop after the step in progress; exit once the worker has closed its last record."""
        self.stop_runtime()
        if self.ended is not None or self.stopped.is_set():
            self.exit()
        else:
            self.quitting = True
            self.refresh_view()
