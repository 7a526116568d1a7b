"""Regenerate docs/results.md from `vlm-agent eval` JSON files, beside the paper's numbers.

    python docs/make_results.py eval/*.json            # writes docs/results.md

Each JSON file is one row cell: its env, model version and prompt variant pick the row and
column; the exact command that produced it is listed under the table.
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


def render(results: list[dict]) -> str:
    rows: dict[str, dict[str, dict]] = defaultdict(dict)
    for result in results:
        label = f"vlm-agent default, {result['policy_version']}" + (", action-only" if result["prompt"] == "action-only" else "")
        rows[label][COLUMNS.get(result["env_id"], result["env_id"])] = result
    header = "| method | " + " | ".join(COLUMNS.values()) + " |"
    lines = ["# Results", "", "Success rate (%), greedy, fixed seeds; ours with the 95% Wilson interval and episode count.", "",
             header, "|" + "---|" * (len(COLUMNS) + 1)]
    for label in sorted(rows):
        cells = []
        for column in COLUMNS.values():
            r = rows[label].get(column)
            cells.append(f"**{100 * r['success_rate']:.1f}** ({100 * r['success_ci95'][0]:.0f}-{100 * r['success_ci95'][1]:.0f}, n={r['episodes']})" if r else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, numbers in PAPER_ROWS:
        lines.append(f"| paper: {label} | " + " | ".join(f"{n:.1f}" for n in numbers) + " |")
    lines += ["", "Invalid-action rate and mean episode length of our rows:", ""]
    for label in sorted(rows):
        for column, r in rows[label].items():
            lines.append(f"- {label}, {column}: invalid {100 * r['invalid_action_rate']:.1f}%, mean length {r['mean_length']:.2f}")
    lines += ["", "Commands that produced our rows:", "", "```"]
    lines += sorted({r["command"] for r in results})
    lines += ["```", ""]
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    results = [json.loads(Path(p).read_text()) for p in paths]
    if not results:
        sys.exit("usage: python docs/make_results.py eval/*.json")
    out = Path(__file__).parent / "results.md"
    out.write_text(render(results))
    print(f"wrote {out} from {len(results)} eval files")


if __name__ == "__main__":
    main(sys.argv[1:])
