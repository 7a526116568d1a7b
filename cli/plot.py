"""`vlm-agent plot`: figures (SVG or PNG) from metrics.jsonl, learning-benchmark rows and eval JSON files."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from vlm_agent.cli.options import Options, options_command


@dataclass
class PlotOptions:
    paths: list[Path] = field(metadata={"argument": True, "help": (
        "metrics.jsonl files or checkpoint roots, learning-benchmark rows (curve.jsonl), `vlm-agent eval` JSON files.")})
    out: Path = field(default=Path("figures"), metadata={"help": "Folder to write the figures into."})
    format: str = field(default="svg", metadata={"help": "Figure file format.", "choices": ["svg", "png"]})
    eval_episodes: Optional[int] = field(default=None, metadata={
        "help": "Eval size of learning rows that do not record it (older rows), for their 95% bands.", "min": 1})


@options_command("plot", PlotOptions)
def plot(options: Options) -> None:
    """Learning curves with 95% bands, PPO diagnostics and success by version, eval bars beside the paper's."""
    from vlm_agent.cli.main import console, user_errors

    with user_errors():
        from vlm_agent.tui.figures import plot_files

        written = plot_files(options.paths, options.out, options.format, options.eval_episodes)
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size // 1024 or 1} KB)")
