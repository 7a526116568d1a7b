"""Regenerate docs/results.md from `vlm-agent eval` JSON files, beside the paper's numbers.

    python docs/make_results.py docs/eval/*.json            # writes docs/results.md

Each JSON file is one cell: its `row` (eval --row; older files: the model version and prompt)
picks the row, its env the column; the exact command that produced it is listed under the table.
ALFWorld cells also fill a per-task-type table beside the paper's per-type numbers.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

COLUMNS = {  # env id -> column title
    "vlm_agent/NumberLine-v0": "NumberLine",
    "vlm_agent/EZPoints-v0": "EZPoints",
    "vlm_agent/Points24-v0": "Points24",
    "vlm_agent/Blackjack-v0": "Blackjack",
    "vlm_agent/ALFWorld-v0": "ALFWorld",
}
PAPER_ROWS = [  # success %, from the paper's main table (shared/docs/rl4vlm.md)
    ("RL4VLM (LLaVA-1.6-7B, SFT + PPO)", [89.4, 50.0, 2.3, 40.2, 21.7]),
    ("RL4VLM without CoT", [26.9, 29.9, 0.0, 40.4, 16.3]),
    ("LLaVA-1.6-7B SFT only", [24.8, 23.0, 2.6, 23.1, 17.7]),
    ("GPT-4V (prompted)", [65.5, 10.5, 0.0, 25.5, 19.4]),
    ("CNN + RL", [87.1, 0.0, 0.0, 38.8, 0.0]),
]
ALFWORLD_TYPES = {  # our task-type names -> the paper's column, with RL4VLM's per-type success
    "pick_and_place_simple": ("Pick", 47.4),
    "look_at_obj_in_light": ("Look", 14.7),
    "pick_clean_then_place_in_recep": ("Clean", 10.4),
    "pick_heat_then_place_in_recep": ("Heat", 14.4),
    "pick_cool_then_place_in_recep": ("Cool", 18.8),
    "pick_two_obj_and_place": ("Pick2", 18.0),
}


def row_label(result: dict) -> str:
    if result.get("row"):
        return result["row"]
    return f"{result['policy_version']}" + (", action-only" if result["prompt"] == "action-only" else "")


def cell(result: dict) -> str:
    low, high = result["success_ci95"]
    return f"**{100 * result['success_rate']:.1f}** ({100 * low:.0f}-{100 * high:.0f}, n={result['episodes']})"


def main_table(rows: dict[str, dict[str, dict]]) -> list[str]:
    lines = ["| method | " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    for label, cells in rows.items():
        lines.append(f"| vlm-agent {label} | " + " | ".join(cell(cells[c]) if c in cells else "-" for c in COLUMNS.values()) + " |")
    for label, numbers in PAPER_ROWS:
        lines.append(f"| paper: {label} | " + " | ".join(f"{n:.1f}" for n in numbers) + " |")
    return lines


def alfworld_table(rows: dict[str, dict[str, dict]]) -> list[str]:
    """Success per task type of every row with an ALFWorld cell, then the paper's RL4VLM row."""
    titled = [(label, cells["ALFWorld"]) for label, cells in rows.items() if "ALFWorld" in cells]
    if not titled:
        return []
    names = [name for name, _ in ALFWORLD_TYPES.values()]
    lines = ["", "ALFWorld success (%) per task type:", "", "| method | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for label, result in titled:
        by_type = result.get("by_task_type", {})
        cells = []
        for task_type in ALFWORLD_TYPES:
            t = by_type.get(task_type)
            cells.append(f"{100 * t['success_rate']:.1f} (n={t['episodes']})" if t else "-")
        lines.append(f"| vlm-agent {label} | " + " | ".join(cells) + " |")
    lines.append("| paper: RL4VLM | " + " | ".join(f"{paper:.1f}" for _, paper in ALFWORLD_TYPES.values()) + " |")
    return lines


def render(results: list[dict]) -> str:
    rows: dict[str, dict[str, dict]] = defaultdict(dict)
    for result in sorted(results, key=row_label):
        rows[row_label(result)][COLUMNS.get(result["env_id"], result["env_id"])] = result
    lines = ["# Results", "", "Success rate (%), greedy, fixed seeds; ours with the 95% Wilson interval and episode count.", ""]
    lines += main_table(rows)
    lines += alfworld_table(rows)
    lines += ["", "Invalid-action rate and mean episode length of our rows:", ""]
    for label, cells in rows.items():
        for column, r in cells.items():
            lines.append(f"- {label}, {column}: invalid {100 * r['invalid_action_rate']:.1f}%, mean length {r['mean_length']:.2f}")
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
    print(f"wrote {out} from {len(results)} eval files")


if __name__ == "__main__":
    main(sys.argv[1:])
