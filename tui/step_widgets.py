"""Widgets that show one step, shared by the live view and replay: frame, prompt, answer, action."""
from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Collapsible, Footer, Static
from textual_image.widget import Image

from vlm_agent.runtime.records import StepRecord


class FrameView(Container):
    """The frame the agent saw, as an image (terminal graphics, or half blocks without them)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._frame: np.ndarray | None = None

    def compose(self) -> ComposeResult:
        yield Image(id="frame-image")

    def show(self, frame: np.ndarray | None) -> None:
        if frame is self._frame:
            return  # re-encoding an unchanged image costs more than every other update together
        self._frame = frame
        self.query_one(Image).image = None if frame is None else PILImage.fromarray(np.asarray(frame, dtype=np.uint8))


class TaskView(Static):
    """The task and what the environment says in words (ALFWorld's observation, a card game's state),
    then the episode's memory when the environment keeps one."""

    def show(self, task: str, observation: str, memory: str = "") -> None:
        text = Text(task, style="bold")
        if observation:
            text.append(("\n" if task else "") + observation.strip(), style="italic")
        if memory:
            text.append("\nmemory\n", style="bold").append(memory, style="dim")
        self.update(text)
        self.display = bool(text.plain)


class PromptView(Collapsible):
    """The prompt the agent got, collapsed by default: it rarely changes and is long."""

    def __init__(self, **kwargs) -> None:
        super().__init__(Static(id="prompt-text"), title="prompt", collapsed=True, **kwargs)

    def show(self, prompt: str) -> None:
        self.query_one("#prompt-text", Static).update(Text(prompt))

    def toggle(self) -> None:
        self.collapsed = not self.collapsed


class AnswerView(VerticalScroll):
    """The agent's answer; scrolls to the end while tokens arrive."""

    def compose(self) -> ComposeResult:
        yield Static(id="answer-text")

    def on_mount(self) -> None:
        self.border_title = "answer"

    def show(self, text: Text | str, follow: bool = False) -> None:
        self.query_one("#answer-text", Static).update(text)
        if follow:
            self.scroll_end(animate=False)


def step_screen(beside_answer: Widget, below_facts: Widget) -> ComposeResult:
    """The layout both apps share: a status line, the frame beside the step's text, the prompt."""
    yield Static(id="status")
    with Horizontal(id="main"):
        yield FrameView(id="frame")
        with Vertical(id="side"):
            yield TaskView(id="task")
            yield AnswerView(id="answer")
            yield beside_answer
            yield Static(id="action")
            yield Static(id="facts")
            yield below_facts
    yield PromptView(id="prompt")
    yield Footer()


def action_line(record: StepRecord) -> Text:
    """The parsed action and its status, and what was actually sent to the environment."""
    line = Text("action ", style="bold")
    shown = record.parsed_action if record.parsed_action is not None else record.action_value
    line.append(repr(shown) if shown is not None else "none", style="bold yellow")
    if record.parse_status == "ok" and not record.info.get("invalid_action"):
        line.append("  ✓ ok", style="green")
    elif record.parse_status == "ok":
        line.append("  ✗ rejected by the environment", style="bold red")
    else:
        line.append(f"  ✗ {record.parse_status}: {record.parse_reason}", style="bold red")
    if record.fallback or record.action_sent != record.parsed_action:
        sent = repr(record.action_sent) if record.action_sent and record.fallback != "noop" else "nothing"  # a no-op changes nothing
        line.append(f"  → sent {sent}" + (f" ({record.fallback} fallback)" if record.fallback else ""))
    else:
        line.append(", sent")
    if record.info.get("avoided_actions"):  # a state seen before: the actions already sent from it were kept out
        line.append("  (state repeated; kept from " + ", ".join(repr(a) for a in record.info["avoided_actions"]) + ")", style="magenta")
    return line


def signed(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def facts_line(*facts: tuple[str, str]) -> Text:
    """"name value" pairs on one line, names in bold."""
    line = Text()
    for name, value in facts:
        line.append(f"{name} ", style="bold").append(f"{value}  ")
    line.rstrip()
    return line
