"""The paper's own prompts, word for word (RL4VLM's VLM_PPO/a2c_ppo_acktr/rl_utils.py, get_prompt).

They differ from ours (agent/prompts.py) in wording, in the extra answer fields they ask for
("current number", "cards", "current formula"), and in that EZPoints and Points24 give the current
formula as text. The reference's quirks are kept on purpose, so a model trained on these strings
sees exactly what the paper's did: the literal backslashes in `\\{` and `\\}` (invalid escapes
Python keeps), "thee four cards", "Your are an expert". Two deliberate differences: each
environment's prompt shows its own formula (the reference shows environment 0's to every
environment of a batch), and a missing card's blank is a space, as in the reference's formula.
"""
from __future__ import annotations

from vlm_agent.agent.interface import Observation
from vlm_agent.envs.points import BLANK


def formula_text(obs: Observation) -> str:
    """The current formula as the reference writes it into the prompt: tokens joined without spaces."""
    return "".join(" " if token == BLANK else token for token in obs.state.get("formula", ()))


def _numberline(obs: Observation, action_only: bool) -> str:
    qs = "You are playing a game called number line. You will see a target number and a current number in the image. "
    qs += "And your goal is to move the current number closer to the target by choosing either adding or subtracting one to the current number. "
    qs += "Your response should be a valid json file in the following format: \n{\n "
    if not action_only:
        qs += "\"current number\": \"x\", \n"
        qs += "\"target number\": \"x\", \n"
        qs += "\"thoughts\": \"{first read out the current and target number, then think carefully about which action to choose}\", \n"
    return qs + "\"action\": \"-\" or \"+\" \n}"


def _blackjack(obs: Observation, action_only: bool) -> str:
    qs = "You are a blackjack player. You are observing the current game state, you can choose between ['stand', 'hit']. "
    qs += "Your response should be a valid json file in the following format: \n{\n "
    if not action_only:
        qs += "\"thoughts\": \"{first describe your total points and the dealer's total points then think about which action to choose}\", \n"
    return qs + "\"action\": \"stand\" or \"hit\" \n}"


def _formula_game(obs: Observation, action_only: bool, intro: str, actions: str, target: int, cards: str, check: str) -> str:
    """EZPoints' and Points24's prompt: the same text around each game's own words."""
    formula = formula_text(obs)
    qs = intro
    qs += f"You are observing the current formula: {formula}. "
    qs += f"You can choose between {actions}. "
    qs += "The number or operator you choose will be appended to the current formula. "
    qs += "Note that 'J', 'Q', and 'K' count as '10'. "
    qs += f"Your goal is to output a formula that evaluates to {target}, and each number can only be used once. "
    qs += "Your response should be a valid json file in the following format: \\{\n"
    if not action_only:
        qs += f" \"cards\": {cards}, \n"
        qs += f"\"current formula\": {formula}, \n"
        qs += f"\"thoughts\": {{First check whether the current formula {check}. "
        qs += f"If the current formula {check}, output '='. "
        qs += f"Otherwise consider which number or operator should be appended to the current formula to make it equal {target}.}} \n"
    return qs + "\"action\": \"{number}\" or \"{operator}\" \n \\}"


def _ezpoints(obs: Observation, action_only: bool) -> str:
    return _formula_game(obs, action_only, "You are an expert card game player. You are observing two cards in the image. ",
                         "['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '+', '*', '=']", 12, "[x, y]", "'z' is complete")


def _points24(obs: Observation, action_only: bool) -> str:
    return _formula_game(obs, action_only, "You are an expert 24 points card game player. You are observing thee four cards in the image. ",
                         "['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '+', '-', '*', '/', '(', ')', '=']", 24,
                         "[x, y, z, w]", "equals 24")


def _alfworld(obs: Observation, action_only: bool) -> str:
    # VLM_PPO_ALF's get_alfworld_prompt; its task is the templated sentence without a final period.
    actions = "\n ".join(f"'{action}'" for action in obs.legal_actions)
    qs = "Your are an expert in the ALFRED Embodied Environment. "
    qs += f"You are also given the following text description of the current scene: {obs.text}. "
    qs += "Your task is to " + obs.task_text.strip().rstrip(".") + ". "
    qs += f"Your admissible actions of the current situation are: [{actions}]. "
    qs += "Your response should be a valid json file in the following format: \n\\{\n"
    if not action_only:
        qs += "\"thoughts\": \"{first describe what do you see in the image using the text description, then carefully think about which action to complete the task. }\", \n"
    return qs + "\"action\": \"{an admissible action}\"\n\\}"


_PAPER_PROMPTS = {
    "vlm_agent/NumberLine-v0": _numberline,
    "vlm_agent/Blackjack-v0": _blackjack,
    "vlm_agent/EZPoints-v0": _ezpoints,
    "vlm_agent/Points24-v0": _points24,
    "vlm_agent/ALFWorld-v0": _alfworld,
}


def paper_prompt(obs: Observation, action_only: bool = False) -> str:
    """The reference's prompt for this observation; action_only gives its no-CoT ablation's."""
    try:
        make = _PAPER_PROMPTS[obs.env_id]
    except KeyError:
        raise ValueError(f"the paper has no prompt for {obs.env_id!r}") from None
    return make(obs, action_only)
