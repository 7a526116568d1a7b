"""Regenerate docs/results.md from `vlm-agent eval` JSON files, beside the paper's numbers.

    python docs/make_results.py docs/eval/*.json            # writes docs/results.md

Each JSON file is one cell per decoding it holds (`eval --protocol both` holds two): its `row`
(eval --row; older files: the model version and prompt), frames, prompt and decoding pick the row,
its env the column; the exact command that produced it is listed under the table. A decoding whose
actions were constrained to the legal ones says so, from what eval logged (the flag, or the model's
own default); older files, from --constrain-actions in their command. ALFWorld cells
also fill a per-task-type table beside the paper's per-type numbers. The ceilings (Blackjack's best
win rate, Points24's solvable deals under each checker) are computed here, by the package's code.
"""
from __future__ import annotations

import json
import shlex
import sys
from collections import defaultdict
from typing import NamedTuple
from pathlib import Path

from vlm_agent.tui.paper_numbers import ALFWORLD_TYPES, ENV_COLUMNS, PAPER_ROWS  # the paper's numbers, kept once

COLUMNS = ENV_COLUMNS  # env id -> column title
ALFWORLD_ENGINE = "TextWorld engine with a drawn schematic frame (paper: AI2-THOR first person)"
PAPER_TERMS = ("paper's", "paper's", "sampled, temperature 0.2; mean of the last training episodes")


def row_label(result: dict) -> str:
    if result.get("row"):
        return result["row"]
    return f"{result['policy_version']}" + (", action-only" if result["prompt"] == "action-only" else "")


class Cell(NamedTuple):  # NamedTuple, not a dataclass: the tests load this script without registering it as a module
    """One figure of one eval file: the file, and the pass (decoding) it comes from."""

    result: dict
    figures: dict  # success_rate, success_ci95, episodes, invalid_action_rate, mean_length (and by_task_type)
    decoding: str

    @property
    def scripted(self) -> bool:
        return self.result.get("agent", "vlm") != "vlm"  # eval --agent expert: rules, no frames read, nothing decoded

    @property
    def frames(self) -> str:
        if self.scripted:
            return "-"
        return self.result.get("render", "clear")  # files from before paper frames existed were all clear

    @property
    def split(self) -> str:
        if self.result.get("split"):
            return self.result["split"]
        if self.result["env_id"].endswith("ALFWorld-v0"):
            words = shlex.split(self.result["command"])
            return words[words.index("--split") + 1] if "--split" in words else "valid_seen"
        seed = self.result.get("seed", 0)
        return f"seeds {seed}-{seed + self.result['episodes'] - 1}"

    @property
    def row_key(self) -> tuple[str, str, str, str]:
        if self.scripted:
            # "memory": true/false in files from before the block's styles; a scripted teacher acts alike in each style
            return row_label(self.result), "-", "-" if self.result.get("memory", True) in (False, "off") else "memory", "scripted"
        return row_label(self.result), self.frames, self.result["prompt"], self.decoding


def cells_of(result: dict) -> list[Cell]:
    """A file's figures: one per decoding pass (older files: the file itself, greedy unless it says not)."""
    if result.get("protocols"):
        return [Cell(result, figures, decoding_label(result, figures, figures["decoding"])) for figures in result["protocols"].values()]
    decoding = "greedy" if result.get("greedy", True) else f"sampled, temperature {result.get('temperature', 0.2):g}"
    return [Cell(result, result, decoding_label(result, result, decoding))]


def decoding_label(result: dict, figures: dict, decoding: str) -> str:
    """`decoding` (greedy, or sampled at a temperature), plus whether the actions were decoded among the legal ones only.

    From the pass's logged `constrained` (which eval records as the policy resolved it: the flag, or
    the model's own default); files from before it was logged, from the command they ran. "repeats
    avoided": in a state the episode had been in, no action already sent from it (`--avoid-repeats`).
    """
    if "constrained" in figures:
        constrained = bool(figures["constrained"])
    else:
        constrained = "--constrain-actions" in shlex.split(result.get("command", ""))
    return decoding + (", actions constrained" if constrained else "") + (", repeats avoided" if figures.get("repeats_avoided") else "")


def cell(c: Cell) -> str:
    figures = c.figures
    low, high = figures["success_ci95"]
    return f"**{100 * figures['success_rate']:.1f}** ({100 * low:.0f}-{100 * high:.0f}, n={figures['episodes']}, {c.split})"


def column_title(column: str) -> str:
    return f"ALFWorld ({ALFWORLD_ENGINE})" if column == "ALFWorld" else column


Rows = dict[tuple[str, str, str, str], dict[str, Cell]]


def main_table(rows: Rows) -> list[str]:
    head = ["method", "frames", "prompt", "decoding", *map(column_title, COLUMNS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (label, frames, prompt, decoding), cells in rows.items():
        figures = [cell(cells[c]) if c in cells else "-" for c in COLUMNS.values()]
        lines.append(f"| vlm-agent {label} | {frames} | {prompt} | {decoding} | " + " | ".join(figures) + " |")
    for label, numbers in PAPER_ROWS:
        lines.append(f"| paper: {label} | " + " | ".join(PAPER_TERMS) + " | " + " | ".join(f"{n:.1f}" for n in numbers) + " |")
    return lines


def alfworld_table(rows: Rows) -> list[str]:
    """Success per task type of every row with an ALFWorld cell, then the paper's RL4VLM row."""
    titled = [(key, cells["ALFWorld"]) for key, cells in rows.items() if "ALFWorld" in cells]
    if not titled:
        return []
    names = [name for name, _ in ALFWORLD_TYPES.values()]
    lines = ["", f"ALFWorld success (%) per task type; ours on the {ALFWORLD_ENGINE}:", "",
             "| method | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for (label, _, prompt, decoding), c in titled:
        by_type = c.figures.get("by_task_type", {})
        cells = []
        for task_type in ALFWORLD_TYPES:
            t = by_type.get(task_type)
            cells.append(f"{100 * t['success_rate']:.1f} (n={t['episodes']})" if t else "-")
        lines.append(f"| vlm-agent {label} ({prompt}, {decoding}; split {c.split}) | " + " | ".join(cells) + " |")
    lines.append("| paper: RL4VLM (AI2-THOR first person) | " + " | ".join(f"{paper:.1f}" for _, paper in ALFWORLD_TYPES.values()) + " |")
    return lines


class Ceilings(NamedTuple):
    """What the best possible player reaches, computed by the package (see `compute_ceilings`)."""

    blackjack_expert: tuple[float, float, float]  # win, draw, loss of the expected-reward-optimal policy
    blackjack_most_wins: tuple[float, float, float]  # win, draw, loss of the policy that maximises wins
    points24_strict: float  # fraction of deals solvable under our checker
    points24_python_eval: float  # ... under the paper's Python eval
    points24_deals: int


def compute_ceilings() -> Ceilings:
    """Blackjack by dynamic programming over gymnasium's rules; Points24 over every deal (a minute or more)."""
    from vlm_agent.agent.experts.blackjack import game_outcome, most_wins_play, optimal_outcome
    from vlm_agent.envs.points_solvable import solvable_fractions

    points = solvable_fractions()
    return Ceilings(optimal_outcome(), game_outcome(most_wins_play), points.strict, points.python_eval, points.deals)


def ceilings_section(c: Ceilings) -> list[str]:
    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    win, draw, loss = c.blackjack_expert
    most_win, most_draw, _ = c.blackjack_most_wins
    return [
        "", "## Ceilings (computed by the package, not typed in)", "",
        f"- Blackjack (gymnasium's rules, infinite deck): the highest win rate any policy reaches is **{pct(most_win)}** "
        f"(it draws {pct(most_draw)}); the expert's policy, which maximises the expected reward, wins {pct(win)}, "
        f"draws {pct(draw)} and loses {pct(loss)}. Success counts wins only, so {pct(most_win)} is the Blackjack column's "
        "ceiling, and any row whose interval holds both its figure and the paper's 40.2 does not beat the paper "
        "with statistical support.",
        f"- Points24: **{pct(c.points24_strict)}** of deals can be solved under our checker (exact + - * / and parentheses); "
        f"**{pct(c.points24_python_eval)}** under the paper's, Python's `eval` of the joined tokens (it also reads joined "
        "numbers, `**`, `//`, a leading minus, and computes in floats). Over all "
        f"{c.points24_deals} multisets of four card values, each weighed by its probability; the second is a lower bound, "
        "every formula it counts passes `eval` within 20 tokens. The paper's Points24 figures were scored by the lenient checker.",
        "- NumberLine and EZPoints: every deal can be solved (EZPoints deals only solvable pairs), so 100% is the ceiling.",
    ]


def render(results: list[dict], ceilings: Ceilings | None = None) -> str:
    rows: Rows = defaultdict(dict)
    for c in sorted((c for result in results for c in cells_of(result)), key=lambda c: c.row_key):
        rows[c.row_key][COLUMNS.get(c.result["env_id"], c.result["env_id"])] = c
    lines = [
        "# Results", "",
        "Success rate (%). Ours: the 95% Wilson interval, the episode count n and the split of each cell (card games: "
        "episode k resets with seed k; ALFWorld: its game split). Each row states its frames (clear: our legible frames, "
        "what the shipped model was trained on; paper: the paper's card faces and sizes), its prompt (cot, action-only: "
        "ours; paper: the paper's wording, with the formula as text in EZPoints and Points24) and its decoding (greedy, "
        "or sampled at temperature 0.2 as the paper samples, keyed so the same seeds draw the same noise; \"actions "
        "constrained\": the action decoded only among the legal actions, the thoughts free; \"repeats avoided\": in a state "
        "the episode had already been in, no action already sent from it, so greedy decoding cannot loop). The paper's "
        "figures are the mean success of the last episodes played during training, sampled at temperature 0.2, on its "
        "frames and prompts; ALFWorld's were on AI2-THOR first-person frames.", "",
    ]
    lines += main_table(rows)
    lines += ["", "![Success by environment against the paper](figures/eval-success.svg)", ""]
    lines += alfworld_table(rows)
    lines += ["", "![ALFWorld success by task type against the paper](figures/eval-alfworld-task-types.svg)", ""]
    lines += ceilings_section(ceilings or compute_ceilings())
    lines += ["", "Invalid-action rate and mean episode length of our rows:", ""]
    for (label, frames, prompt, decoding), cells in rows.items():
        for column, c in cells.items():
            lines.append(f"- {label} ({frames} frames, {prompt}, {decoding}), {column}: invalid "
                         f"{100 * c.figures['invalid_action_rate']:.1f}%, mean length {c.figures['mean_length']:.2f}")
    lines += ["", "How the rows' models were made: docs/default-model.md. Commands that produced our rows:", "", "```"]
    lines += sorted({r["command"] for r in results})
    lines += ["```", ""]
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("usage: python docs/make_results.py docs/eval/*.json")
    results = [json.loads(Path(p).read_text()) for p in paths]
    out = Path(__file__).parent / "results.md"
    out.write_text(render(results))
    from vlm_agent.tui.figures import write_figures  # the figures beside the tables, from the same files

    figures = write_figures(results, Path(__file__).parent / "figures")
    print(f"wrote {out} and {', '.join(str(f) for f in figures)} from {len(results)} eval files")


if __name__ == "__main__":
    main(sys.argv[1:])
