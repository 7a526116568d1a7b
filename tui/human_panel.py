"""Where the person playing as the agent types (or picks) the next action."""
from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, OptionList, Static

from vlm_agent.agent.parsing import normalize_action


def match_action(typed: str, legal_actions: Sequence[str]) -> str | None:
    """The legal action `typed` names: exactly (case and spacing aside) or as its only prefix."""
    wanted = normalize_action(typed)
    if not wanted:
        return None
    normalized = {normalize_action(action): action for action in legal_actions}
    if wanted in normalized:
        return normalized[wanted]
    prefixed = [action for key, action in normalized.items() if key.startswith(wanted)]
    return prefixed[0] if len(prefixed) == 1 else None


HINT = Text("Enter sends · → completes · Esc frees the keys · ctrl+q quits", style="italic")


class HumanPanel(Vertical):
    """An input with the admissible actions as completions, and the same actions as a list."""

    # While the person types, letters go to the input; Esc gives them back to the app's bindings
    # (ctrl+q, the app's own quit key, works throughout).
    BINDINGS = [Binding("escape", "app.free_keys", "Keys", key_display="esc")]

    class Chosen(Message):
        """The person chose `action`, one of the admissible actions."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._legal: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Input(placeholder="type an action", id="human-input")
        yield Static(id="human-hint")
        yield OptionList(id="human-options")

    def on_mount(self) -> None:
        self.border_title = "your action"

    def ask(self, legal_actions: Sequence[str]) -> None:
        """Offer `legal_actions` and take the keyboard."""
        self._legal = tuple(legal_actions)
        field = self.query_one(Input)
        field.suggester = SuggestFromList(self._legal, case_sensitive=False)
        field.value = ""
        self.query_one("#human-hint", Static).update(HINT)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._legal)
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        action = match_action(event.value, self._legal)
        if action is None:
            self.query_one("#human-hint", Static).update(Text(f"{event.value!r} is not one admissible action", style="red"))
            return
        self.post_message(self.Chosen(action))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(self._legal[event.option_index]))
