"""Regenerate the figures in docs/figures/ from the repository's own rows: learning curves and eval bars.

    python docs/make_figures.py                 # writes docs/figures/*.svg

docs/learning/*.md link the learning curves (learning-benchmark rows, docs/learning/*.jsonl) and the
online training runs (docs/learning/<run>/metrics.jsonl: diagnostics and success by version); docs/make_results.py can write the eval figures
beside docs/results.md with `vlm_agent.tui.figures.write_figures` (the same function this uses).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from vlm_agent.tui.figures import plot_files, write_figures

DOCS = Path(__file__).resolve().parent
# Eval size of the learning rows that do not record it (written before benchmarks/learning.py saved
# eval_episodes), from the --eval-episodes of each run's command in docs/learning/*.md.
EVAL_EPISODES = {
    "numberline-ppo-from-sft1000": 100,
    "alfworld-ppo-from-v5": 20,
    "alfworld-ppo-from-gen-sft-noop": 20,
    "alfworld-ppo-from-gen-sft-random": 20,
    "alfworld-ppo-from-gen-sft-constrained": 20,
    "alfworld-ppo-from-gen-sft-constrained-logprobs": 20,
    "alfworld-ppo-from-gen-sft-constrained-format": 20,
    "alfworld-ppo-from-gen-sft-grpo": 48,
}


def main(out: Path = DOCS / "figures") -> list[Path]:
    rows = sorted((DOCS / "learning").glob("*.jsonl"))
    written = plot_files(rows, out, "svg", EVAL_EPISODES)
    # Online training runs (`vlm-agent train`) keep their trainer's metrics.jsonl in a folder of the run's
    # name: its PPO diagnostics and the success of each version's episodes.
    written += plot_files(sorted((DOCS / "learning").glob("*/metrics.jsonl")), out, "svg")
    results = [json.loads(path.read_text()) for path in sorted((DOCS / "eval").glob("*.json"))]
    written += write_figures(results, out, "svg")
    for path in written:
        print(f"wrote {path.relative_to(DOCS.parent) if path.is_relative_to(DOCS.parent) else path} ({path.stat().st_size // 1024} KB)")
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "figures")
