"""Prompt templates per environment, in the paper's answer format, with CoT and action-only variants."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vlm_agent.agent.interface import Observation
from vlm_agent.agent.paper_prompts import paper_prompt

VARIANTS = ("cot", "action-only")
# The paper's own wording (agent/paper_prompts.py), with CoT and without, for comparisons on its terms.
PAPER_VARIANTS = ("paper", "paper-action-only")
PROMPT_VARIANTS = VARIANTS + PAPER_VARIANTS


def asks_for_thoughts(variant: str) -> bool:
    """Whether the prompt variant asks for a "thoughts" field before the action."""
    return not variant.endswith("action-only")


@dataclass(frozen=True)
class PromptTemplate:
    """`rules` explains the game; `thoughts_hint` says what the thoughts should contain.

    `show_state` adds the observation's text (ALFWorld's text observation); the card games show
    their state only in the frame, as in the paper.
    """

    rules: str
    thoughts_hint: str
    show_state: bool = False
    show_legal_actions: bool = True


_TEMPLATES: dict[str, PromptTemplate] = {
    "vlm_agent/NumberLine-v0": PromptTemplate(
        rules=(
            "You are playing Number Line. The image shows a target number and a current number. "
            "Move the current number to the target: + adds one, - subtracts one."
        ),
        thoughts_hint="read the current and target numbers, then choose the move",
    ),
    "vlm_agent/EZPoints-v0": PromptTemplate(
        rules=(
            "You are playing EZPoints. The image shows two cards and a formula. Build a formula "
            "that uses both cards and equals 12, one token at a time. A, J, Q and K count as "
            "1, 10, 10 and 10. Choose = when the formula is complete."
        ),
        thoughts_hint="read the cards and the formula, state the plan, then give the next token",
    ),
    "vlm_agent/Points24-v0": PromptTemplate(
        rules=(
            "You are playing Points24. The image shows four cards and a formula. Build a formula "
            "that uses all four cards and equals 24, one token at a time. A, J, Q and K count as "
            "1, 10, 10 and 10. Choose = when the formula is complete."
        ),
        thoughts_hint="read the cards and the formula, state the plan, then give the next token",
    ),
    "vlm_agent/Blackjack-v0": PromptTemplate(
        rules=(
            "You are playing Blackjack. The image shows the dealer's face-up card and your cards. "
            "Get closer to 21 than the dealer without going over: hit takes a card, stand stops."
        ),
        thoughts_hint="add up your cards, look at the dealer's card, then decide",
    ),
    "vlm_agent/ALFWorld-v0": PromptTemplate(
        rules=(
            "You are a household robot in ALFWorld. The image shows the goal, the place in front of you "
            "and what it holds, and what is in your hand. Complete the task with one admissible action per step."
        ),
        thoughts_hint="say where you are and what you hold, what the task still needs, then choose the next action",
        show_state=True,
    ),
}


def register_prompt(env_id: str, template: PromptTemplate) -> None:
    """Add or replace the template of an environment (for environments registered outside vlm_agent)."""
    _TEMPLATES[env_id] = template


def template_for(env_id: str) -> PromptTemplate:
    try:
        return _TEMPLATES[env_id]
    except KeyError:
        raise KeyError(f"no prompt template for {env_id!r}") from None


def answer_format(legal_actions: Sequence[str], variant: str, thoughts_hint: str) -> str:
    """The JSON shape the answer must take."""
    actions = " or ".join(f'"{a}"' for a in legal_actions)
    if variant == "cot":
        return f'{{"thoughts": "{thoughts_hint}", "action": {actions}}}'
    return f'{{"action": {actions}}}'


def build_prompt(obs: Observation, variant: str = "cot") -> str:
    """The text prompt for one observation; the frame goes to the model beside it.

    `obs.memory` (what the agent has observed this episode) and `obs.history` (short lines on past
    actions and observations) are shown before the state when the environment keeps them; the
    paper's prompt has neither.
    """
    if variant in PAPER_VARIANTS:
        return paper_prompt(obs, action_only=variant == "paper-action-only")
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; use one of {', '.join(PROMPT_VARIANTS)}")
    template = template_for(obs.env_id)
    parts = [template.rules]
    if obs.task_text:
        parts.append(f"Task: {obs.task_text}")
    if obs.memory:
        parts.append("Memory:\n" + obs.memory)
    if obs.history:
        parts.append("Recent steps:\n" + "\n".join(obs.history))
    if template.show_state and obs.text:
        parts.append(f"Observation: {obs.text}")
    if template.show_legal_actions and template.show_state:
        parts.append("Admissible actions: " + ", ".join(obs.legal_actions))
    fmt = answer_format(
        obs.legal_actions if not template.show_state else ["one admissible action"],
        variant,
        template.thoughts_hint,
    )
    parts.append(f"Answer in JSON: {fmt}")
    return "\n".join(parts)
