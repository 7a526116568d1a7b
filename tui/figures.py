"""Figures from files (matplotlib, Agg): learning curves with 95% bands, diagnostics and success by version, eval bars vs the paper.

Three inputs, told apart by their content:
- a trainer's metrics.jsonl (or the checkpoint root holding it): one line per PPO update;
- learning-benchmark rows (benchmarks/learning.py's curve.jsonl, docs/learning/*.jsonl): one per round;
- `vlm-agent eval` JSON files: one result per file.
`plot_files` writes every figure they make; `write_figures` is the eval part, for docs/make_results.py.
"""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window; before anything imports pyplot
from matplotlib.figure import Figure  # noqa: E402

from vlm_agent.runtime.stats import wilson_interval  # noqa: E402
from vlm_agent.tui.paper_numbers import ALFWORLD_TYPES, ENV_COLUMNS, PAPER_ROWS  # noqa: E402
from vlm_agent.tui.train_history import DIAGNOSTICS, TrainHistory, number, read_metrics_history  # noqa: E402

FORMATS = ("svg", "png")
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "vlm-agent", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
OURS, PAPER, BAND = "#1f77b4", "#bbbbbb", "#1f77b4"


@dataclass(frozen=True)
class PlotInput:
    path: Path
    kind: str  # "metrics", "learning" or "eval"
    rows: list  # metrics: [TrainHistory]; learning: round rows; eval: [result]


def read_plot_input(path: Path) -> PlotInput:
    """Read `path` and say which of the three inputs it is; anything else is a ValueError (one line)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "metrics.jsonl").is_file():
            raise ValueError(f"{path}: a folder without metrics.jsonl (give a checkpoint root, metrics.jsonl, benchmark rows or eval JSON)")
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".json":
        result = json.loads(path.read_text())
        if not isinstance(result, dict) or "env_id" not in result or "success_rate" not in result:
            raise ValueError(f"{path}: not a `vlm-agent eval` result (no env_id/success_rate)")
        return PlotInput(path, "eval", [result])
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
    if rows and "round" in rows[0]:
        return PlotInput(path, "learning", rows)
    if any(isinstance(row, dict) and "update" in row for row in rows):
        return PlotInput(path, "metrics", [read_metrics_history(path.parent)])
    raise ValueError(f"{path}: neither metrics.jsonl lines (update) nor learning-benchmark rows (round)")


def learning_curve(rows: list[dict], title: str, eval_episodes: int | None = None) -> Figure:
    """Eval success by round with its 95% Wilson band (when the eval size is known), sampled success, eval return."""
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    success_ax, return_ax = fig.subplots(1, 2)
    evaluated = [r for r in rows if number(r.get("eval_success")) is not None]
    rounds = [r["round"] for r in evaluated]
    success = [100 * r["eval_success"] for r in evaluated]
    decoding = next((r["eval_decoding"] for r in evaluated if r.get("eval_decoding")), "greedy")
    sizes = [r.get("eval_episodes") or eval_episodes for r in evaluated]
    if evaluated and all(sizes):
        bands = [wilson_interval(round(r["eval_success"] * n), n) for r, n in zip(evaluated, sizes)]
        success_ax.fill_between(rounds, [100 * lo for lo, _ in bands], [100 * hi for _, hi in bands], color=BAND, alpha=0.2,
                                linewidth=0, label="95% interval")
    success_ax.plot(rounds, success, marker="o", color=OURS, label=f"eval ({decoding}" + (f", n={sizes[0]})" if sizes and sizes[0] else ")"))
    sampled = [(r["round"], 100 * r["sampled_success"]) for r in rows if number(r.get("sampled_success")) is not None]
    if sampled:
        success_ax.plot(*zip(*sampled), marker=".", linestyle="--", color="#ff7f0e", label="sampled (training rounds)")
    success_ax.set(xlabel="round", ylabel="success (%)", title="success", ylim=(0, 100))
    success_ax.legend(loc="best", fontsize=7, frameon=False)
    returns = [(r["round"], r["eval_return"]) for r in evaluated if number(r.get("eval_return")) is not None]
    if returns:
        return_ax.plot(*zip(*returns), marker="o", color=OURS)
    return_ax.set(xlabel="round", ylabel="mean return", title="eval return")
    for ax in (success_ax, return_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title, fontsize=9)
    return fig


def diagnostics_figure(history: TrainHistory, title: str) -> Figure:
    """The per-update diagnostics (losses, approx KL, clip fraction, explained variance, entropy, grad norm, lr)."""
    fig = Figure(figsize=(8.0, 3.6), layout="constrained")
    for ax, (key, label) in zip(fig.subplots(2, 4).flat, DIAGNOSTICS):
        xs, ys = history.series(key)
        ax.plot(xs, ys, marker="." if len(xs) < 30 else None, color=OURS)
        ax.set_title(label)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.supxlabel("update", fontsize=9)
    fig.suptitle(title, fontsize=9)
    return fig


def versions_figure(history: TrainHistory, title: str) -> Figure:
    """Success and mean return of the episodes each version played (as the update from it saw them)."""
    rows = [row for row in history.versions() if row.success_rate is not None]
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    success_ax, return_ax = fig.subplots(1, 2)
    names = [row.name for row in rows]
    success_ax.bar(names, [100 * row.success_rate for row in rows], color=OURS)
    success_ax.set(ylabel="success (%)", title="success by version", ylim=(0, 100))
    return_ax.plot(names, [row.mean_return for row in rows], marker="o", color=OURS)
    return_ax.set(ylabel="mean return", title="return by version")
    for ax in (success_ax, return_ax):
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def row_label(result: dict) -> str:
    """The row an eval result belongs to (eval --row; older files: the version and prompt), as docs/make_results.py."""
    if result.get("row"):
        return result["row"]
    return f"{result['policy_version']}" + (", action-only" if result.get("prompt") == "action-only" else "")


def shipped_rows(results: list[dict], versions: int = 2) -> list[dict]:
    """The rows of the newest `versions` shipped defaults (labels "default-sft-vN..."), or every row where
    none is a default's: a figure of every experiment's row has no room for its bars (80 files by v7)."""
    version = lambda r: int(m.group(1)) if (m := re.match(r"default-sft-v(\d+)\b", row_label(r))) else None
    numbers = sorted({v for r in results if (v := version(r)) is not None})
    return [r for r in results if version(r) in numbers[-versions:]] if numbers else results


def eval_success_figure(results: list[dict], paper_rows=PAPER_ROWS) -> Figure:
    """Success per environment: the newest shipped defaults' rows with their 95% interval, beside the paper's rows."""
    columns = list(ENV_COLUMNS.values())
    ours: dict[str, dict[str, dict]] = defaultdict(dict)
    for result in sorted(shipped_rows(results), key=row_label):
        ours[row_label(result)][ENV_COLUMNS.get(result["env_id"], result["env_id"])] = result
    series = [(f"ours: {label}", [100 * cells[c]["success_rate"] if c in cells else math.nan for c in columns],
               [_errors(cells.get(c)) for c in columns]) for label, cells in ours.items()]
    series += [(f"paper: {label}", numbers, [(0.0, 0.0)] * len(columns)) for label, numbers in paper_rows]
    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(series)
    cmap = matplotlib.colormaps["Blues"]
    for i, (label, values, errors) in enumerate(series):
        paper = label.startswith("paper")
        colour = matplotlib.colormaps["Greys"](0.3 + 0.5 * i / len(series)) if paper else cmap(0.45 + 0.5 * i / max(1, len(ours)))
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(columns))]
        ax.bar(xs, values, width, label=label, color=colour, yerr=list(zip(*errors)) if not paper else None,
               error_kw={"elinewidth": 0.8, "capsize": 1.5})
    ax.set_xticks(range(len(columns)), columns)
    ax.set(ylabel="success (%)", ylim=(0, 105), title="success by environment: ours (95% Wilson interval) and the paper's")
    fig.legend(loc="outside right center", fontsize=6, frameon=False)
    return fig


def alfworld_types_figure(results: list[dict], alfworld_types=ALFWORLD_TYPES) -> Figure | None:
    """ALFWorld success per task type of each of our rows, beside RL4VLM's per-type numbers; None without ALFWorld rows."""
    rows = [(row_label(r), r.get("by_task_type", {})) for r in sorted(results, key=row_label) if r["env_id"] == "vlm_agent/ALFWorld-v0"]
    if not rows:
        return None
    names = [name for name, _ in alfworld_types.values()]
    series = [(f"ours: {label}", [100 * by_type[t]["success_rate"] if t in by_type else math.nan for t in alfworld_types]) for label, by_type in rows]
    series.append(("paper: RL4VLM", [paper for _, paper in alfworld_types.values()]))
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(names))]
        ax.bar(xs, values, width, label=label, color=PAPER if label.startswith("paper") else matplotlib.colormaps["Blues"](0.5 + 0.4 * i / len(series)))
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="success (%)", title="ALFWorld success by task type")
    ax.legend(fontsize=6, frameon=False)
    return fig


def _errors(result: dict | None) -> tuple[float, float]:
    if result is None or "success_ci95" not in result:
        return 0.0, 0.0
    low, high = result["success_ci95"]
    return max(0.0, 100 * (result["success_rate"] - low)), max(0.0, 100 * (high - result["success_rate"]))


def save(fig: Figure, path: Path) -> Path:
    """Write `fig` to `path` (its suffix picks SVG or PNG), with no date in it, so a rerun on the same data gives the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Date": None} if path.suffix == ".svg" else {"Software": None}
    with matplotlib.rc_context(STYLE):
        fig.savefig(path, metadata=metadata, dpi=90)
    return path


def write_figures(results: list[dict], out_dir: Path, fmt: str = "svg", paper_rows=PAPER_ROWS, alfworld_types=ALFWORLD_TYPES) -> list[Path]:
    """The eval figures of docs/results.md: success by environment vs the paper, ALFWorld by task type. Returns the files written."""
    out_dir = Path(out_dir)
    with matplotlib.rc_context(STYLE):
        written = [save(eval_success_figure(results, paper_rows), out_dir / f"eval-success.{fmt}")]
        types = alfworld_types_figure(results, alfworld_types)
    if types is not None:
        written.append(save(types, out_dir / f"eval-alfworld-task-types.{fmt}"))
    return written


def plot_files(paths: list[Path], out_dir: Path, fmt: str = "svg", eval_episodes: dict[str, int] | int | None = None) -> list[Path]:
    """Every figure the inputs make, written to `out_dir`; returns the files written.

    `eval_episodes` gives the eval size of learning rows that do not record it (older rows), for
    their bands: one number for all, or by file stem.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown figure format {fmt!r} (choose from {', '.join(FORMATS)})")
    inputs = [read_plot_input(Path(p)) for p in paths]
    out_dir = Path(out_dir)
    written: list[Path] = []
    with matplotlib.rc_context(STYLE):
        for item in inputs:
            name = item.path.parent.name if item.path.name == "metrics.jsonl" else item.path.stem
            if item.kind == "learning":
                n = eval_episodes.get(item.path.stem) if isinstance(eval_episodes, dict) else eval_episodes
                written.append(save(learning_curve(item.rows, name, n), out_dir / f"{name}.{fmt}"))
            elif item.kind == "metrics":
                history = item.rows[0]
                written.append(save(diagnostics_figure(history, f"{name}: PPO diagnostics by update"), out_dir / f"{name}-diagnostics.{fmt}"))
                written.append(save(versions_figure(history, f"{name}: episodes played by each version"), out_dir / f"{name}-versions.{fmt}"))
    evals = [result for item in inputs if item.kind == "eval" for result in item.rows]
    if evals:
        written += write_figures(evals, out_dir, fmt)
    return written
