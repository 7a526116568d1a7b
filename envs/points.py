"""EZPoints and Points24: build a formula from the cards, one token at a time, that hits the target."""
from __future__ import annotations

import numpy as np

from vlm_agent.envs.arithmetic import evaluate, format_formula, is_solvable
from vlm_agent.envs.card_game import CardGameEnv, MoveResult
from vlm_agent.envs.cards import Card, deal_card, describe_cards
from vlm_agent.envs.cards_paper import ezpoints_frame, points24_frame
from vlm_agent.envs.cards_render import HIGHLIGHT, TEXT, draw_card_row, draw_text, draw_wrapped, new_frame, to_array

NUMBERS = tuple(str(n) for n in range(1, 11))
BLANK = "_"  # what the formula gets instead of a number the cards do not offer
SOLVED_REWARD = 10.0
FAILED_REWARD = -1.0  # a wrong "=", a number the cards do not offer, a formula over the limit


class FormulaCardsEnv(CardGameEnv):
    """Shared rules of the formula games; subclasses set the deal, target, operators and limits.

    A number is legal as an action even when no card offers it (the paper's action set is fixed):
    then it earns -1, a blank is appended (it counts toward the formula limit) and info says
    card_missing. "=" ends the episode: +10 if the formula equals the target and uses every card,
    else -1. A formula longer than `formula_limit` tokens earns -1 and truncates. Legal actions
    alone end an episode within formula_limit + 1 steps; `max_steps` also truncates an agent that
    sends only invalid strings.
    """

    target = 0
    operators = ""  # arithmetic operators this game offers
    parentheses = False

    def __init__(self, formula_limit: int, max_steps: int, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array",
                 render: str = "clear"):
        super().__init__(invalid_action_penalty, render_mode, render)
        self.formula_limit = formula_limit
        self.max_steps = max_steps
        self.legal_actions = list(NUMBERS) + list(self.operators) + (["(", ")"] if self.parentheses else []) + ["="]
        self.cards: list[Card] = []
        self.formula: list[str] = []
        self.solvable = False

    def deal(self) -> list[Card]:
        """The episode's cards, drawn from self.np_random."""
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.cards = self.deal()
        self.solvable = is_solvable(self.values, self.target, self.operators)
        self.formula = []
        return self.start_episode()

    @property
    def values(self) -> list[int]:
        return [card.value for card in self.cards]

    def remaining_values(self) -> list[int]:
        """Card values the formula has not used yet."""
        remaining = list(self.values)
        for token in self.formula:
            if token in NUMBERS:
                remaining.remove(int(token))
        return remaining

    def play(self, move: str) -> MoveResult:
        if move == "=":
            used_all = sum(t in NUMBERS for t in self.formula) == len(self.cards)
            success = used_all and evaluate(self.formula) == self.target
            return MoveResult(SOLVED_REWARD if success else FAILED_REWARD, terminated=True, success=success)
        card_missing = move in NUMBERS and int(move) not in self.remaining_values()
        self.formula.append(BLANK if card_missing else move)
        too_long = len(self.formula) > self.formula_limit
        reward = FAILED_REWARD if card_missing or too_long else 0.0
        return MoveResult(reward, truncated=too_long, facts={"card_missing": card_missing})

    def describe(self) -> str:
        shown = format_formula(self.formula) if self.formula else "(empty)"
        return f"Cards: {describe_cards(self.cards)}. Formula: {shown}. Target: {self.target}."

    def state(self) -> dict:
        return {
            "cards": [card.as_dict() for card in self.cards],
            "values": self.values,
            "remaining_values": self.remaining_values(),
            "formula": list(self.formula),
            "target": self.target,
            "operators": self.operators,
            "parentheses": self.parentheses,
            "formula_limit": self.formula_limit,
            "solvable": self.solvable,
        }

    def render_paper(self) -> np.ndarray:
        # The paper writes a space where a number no card offers went; so does its frame.
        tokens = [" " if token == BLANK else token for token in self.formula]
        return self.paper_frame(self.cards, tokens)

    @staticmethod
    def paper_frame(cards: list[Card], tokens: list[str]) -> np.ndarray:
        """The game's paper-faithful frame (its text layout differs between EZPoints and Points24)."""
        raise NotImplementedError

    def render_clear(self) -> np.ndarray:
        image, draw = new_frame()
        card_height = 126 if len(self.cards) <= 2 else 90
        draw_card_row(draw, self.cards, top=12, max_height=card_height)
        label_top = 12 + card_height + 14
        draw_text(draw, "Formula:", label_top, 28, TEXT)
        formula = format_formula(self.formula) if self.formula else ""
        draw_wrapped(draw, formula, label_top + 38, 296, sizes=(40, 34, 28, 22), fill=HIGHLIGHT)
        return to_array(image)


class EZPointsEnv(FormulaCardsEnv):
    """Two cards that make 12 by + or * (the deal guarantees it); formula limit 5 tokens.

    Defaults: max_steps=10 (a legal-only episode takes at most 6).
    """

    task_type = "ezpoints"
    target = 12
    operators = "+*"
    paper_frame = staticmethod(ezpoints_frame)

    def __init__(self, formula_limit: int = 5, max_steps: int = 10, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array",
                 render: str = "clear"):
        super().__init__(formula_limit, max_steps, invalid_action_penalty, render_mode, render)

    def deal(self) -> list[Card]:
        # Redeal until solvable: the accepted deals keep the uniform card draw's relative odds.
        while True:
            cards = [deal_card(self.np_random) for _ in range(2)]
            if is_solvable([card.value for card in cards], self.target, self.operators):
                return cards


class Points24Env(FormulaCardsEnv):
    """Four random cards, target 24, + - * / and parentheses; formula limit 20 tokens.

    Not every deal is solvable: info["state"]["solvable"] says whether this one is. Defaults:
    max_steps=30 (a legal-only episode takes at most 21).
    """

    task_type = "points24"
    target = 24
    operators = "+-*/"
    parentheses = True
    paper_frame = staticmethod(points24_frame)

    def __init__(self, formula_limit: int = 20, max_steps: int = 30, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array",
                 render: str = "clear"):
        super().__init__(formula_limit, max_steps, invalid_action_penalty, render_mode, render)

    def deal(self) -> list[Card]:
        return [deal_card(self.np_random) for _ in range(4)]
