"""`vlm-agent replay`: browse logged episodes step by step, tokens and values included."""
from __future__ import annotations

import math
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import DataTable, OptionList, Static

from vlm_agent.runtime.log_reader import LogFormatError
from vlm_agent.runtime.records import StepRecord
from vlm_agent.tui.answer_text import answer_text, logprob_summary, token_text
from vlm_agent.tui.replay_data import GAMMA, EpisodeSummary, ReplayLog, TokenDecoder, returns_to_go, token_decoder_for
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


class EpisodePicker(ModalScreen[int]):
    """Every episode of the log, one line each; Enter opens one."""

    BINDINGS = [Binding("escape,g", "dismiss", "Close")]

    def __init__(self, summaries: list[EpisodeSummary], current: int):
        super().__init__()
        self.summaries = summaries
        self.current = current

    def compose(self) -> ComposeResult:
        yield OptionList(*(summary.label() for summary in self.summaries), id="picker")

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        picker.border_title = f"{len(self.summaries)} episodes"
        picker.highlighted = self.current
        picker.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)


class ReplayApp(App):
    """One logged step at a time: the frame, the prompt, the answer by token, reward and value."""

    CSS_PATH = "vlm_agent.tcss"
    TITLE = "vlm-agent replay"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None  # arrow keys step through the episode; nothing should take them
    BINDINGS = [
        Binding("left,h", "step(-1)", "Back", key_display="←"),
        Binding("right,l", "step(1)", "Forward", key_display="→"),
        Binding("home", "step(-1_000_000)", "First", show=False),
        Binding("end", "step(1_000_000)", "Last", show=False),
        Binding("left_square_bracket", "episode(-1)", "Prev ep", key_display="["),
        Binding("right_square_bracket", "episode(1)", "Next ep", key_display="]"),
        Binding("g", "pick", "Episodes"),
        Binding("p", "toggle_prompt", "Prompt"),
        Binding("t", "toggle_tokens", "Tokens"),
        Binding("q", "quit", "Quit"),
    ]

    episode_index = reactive(0)
    step_index = reactive(0)

    def __init__(self, log_dir: Path, token_decoder: TokenDecoder | None = None):
        super().__init__()
        self.replay_log = ReplayLog(log_dir)
        self._token_decoder = token_decoder  # tests pass one; otherwise found from the run's manifest
        self.steps: list[StepRecord] = []
        self.returns: list[float] = []
        self.load_error = ""
        self.show_tokens = True

    def compose(self) -> ComposeResult:
        yield from step_screen(Static(id="legend"), DataTable(id="tokens", cursor_type="none", zebra_stripes=True))

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("#", "token", "kind", "log-prob", "p")
        self.query_one(DataTable).can_focus = False
        self._load_episode()

    def watch_episode_index(self) -> None:
        if self.is_mounted:
            self._load_episode()

    def watch_step_index(self) -> None:
        if self.is_mounted:
            self.show_step()

    def _load_episode(self) -> None:
        try:
            self.steps = self.replay_log.episode(self.episode_index)
            self.load_error = ""
        except LogFormatError as error:
            self.steps, self.load_error = [], str(error)
        self.returns = returns_to_go([step.reward for step in self.steps])
        self.step_index = 0
        self.show_step()

    def _decoder(self) -> TokenDecoder | None:
        return self._token_decoder or token_decoder_for(self.replay_log.files[self.episode_index])

    def show_step(self) -> None:
        self.query_one("#status", Static).update(self._status_line())
        if not self.steps:
            self.query_one(AnswerView).show(Text(self.load_error, style="bold red"))
            return
        step = self.steps[self.step_index]
        self.query_one(FrameView).show(step.frame)
        self.query_one(TaskView).show(step.task_text, step.observation_text)
        prompt = self.query_one(PromptView)
        prompt.title = f"prompt of step {step.step}"
        prompt.show(step.prompt)
        self.query_one("#action", Static).update(action_line(step))
        self.query_one("#facts", Static).update(self._facts(step))
        self._show_tokens(step)

    def _show_tokens(self, step: StepRecord) -> None:
        table = self.query_one(DataTable)
        table.clear()
        legend = self.query_one("#legend", Static)
        answer = self.query_one(AnswerView)
        has_tokens = bool(step.response_token_ids and step.logprobs)
        table.display = has_tokens and self.show_tokens
        if not has_tokens:
            answer.show(answer_text(step.response, step.legal_actions))
            legend.update(Text(f"no log-probs ({step.agent_kind} agent)", style="italic"))
            return
        cot = step.cot_mask or [False] * len(step.logprobs)
        action = step.action_mask or [False] * len(step.logprobs)
        decoder = self._decoder()
        pieces = decoder(step.response_token_ids) if decoder else None
        if pieces is None:
            answer.show(answer_text(step.response, step.legal_actions))
        else:
            answer.show(token_text(pieces, step.logprobs, cot, action))
        summary = Text()
        summary.append("CoT", style="cyan").append("  ").append("action", style="bold yellow").append("  ")
        summary.append("improbable", style="on rgb(190,20,20)").append("\n")
        summary.append(logprob_summary(step.logprobs, cot, action, step.thought_coef))
        legend.update(summary)
        for index, (token_id, logprob) in enumerate(zip(step.response_token_ids, step.logprobs)):
            token = pieces[index] if pieces else f"id {token_id}"
            kind = "action" if action[index] else "CoT" if cot[index] else ""
            table.add_row(str(index), repr(token)[1:-1], kind, f"{logprob:.3f}", f"{math.exp(logprob):.2f}")

    def _facts(self, step: StepRecord) -> Text:
        return facts_line(
            ("reward", signed(step.reward)),
            ("value", f"{signed(step.value)} vs realised {signed(self.returns[self.step_index])} (γ={GAMMA:g})"),
            ("policy", step.policy_version or "—"),
        )

    def _status_line(self) -> Text:
        count = len(self.replay_log.files)
        line = Text(f"episode {self.episode_index + 1}/{count}", style="bold")
        if not self.steps:
            return line.append(f" · {self.replay_log.files[self.episode_index].name}")
        step = self.steps[self.step_index]
        mark = "✓ success" if self.steps[-1].success else "✗ failure"
        total = sum(s.reward for s in self.steps)
        line.append(f" · {step.env_id.split('/')[-1]} {step.episode_id} · {mark}, return {total:+.2f}")
        line.append(f" · step {self.step_index + 1}/{len(self.steps)}", style="bold")
        return line

    # Key bindings.
    def action_step(self, delta: int) -> None:
        if self.steps:
            self.step_index = min(len(self.steps) - 1, max(0, self.step_index + delta))

    def action_episode(self, delta: int) -> None:
        self.episode_index = min(len(self.replay_log.files) - 1, max(0, self.episode_index + delta))

    def action_pick(self) -> None:
        def chosen(index: int | None) -> None:
            if index is not None:
                self.episode_index = index

        self.push_screen(EpisodePicker(self.replay_log.summaries(), self.episode_index), chosen)

    def action_toggle_prompt(self) -> None:
        self.query_one(PromptView).toggle()

    def action_toggle_tokens(self) -> None:
        self.show_tokens = not self.show_tokens
        self.show_step()
