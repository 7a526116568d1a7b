"""docs/make_figures.py: the repository's own learning rows and eval files become the figures the docs link."""
from __future__ import annotations

import re
from pathlib import Path

from script_loader import ROOT, load_script


def test_every_learning_run_and_the_evals_get_a_small_figure_and_the_docs_link_only_committed_ones(tmp_path):
    written = load_script("docs/make_figures.py").main(tmp_path)
    stems = {path.stem for path in (ROOT / "docs" / "learning").glob("*.jsonl")}
    stems |= {f"{path.parent.name}-{kind}" for path in (ROOT / "docs" / "learning").glob("*/metrics.jsonl")
              for kind in ("diagnostics", "versions")}  # online training runs: the trainer's metrics
    assert {path.stem for path in written} == stems | {"eval-success", "eval-alfworld-task-types"}
    for path in written:
        assert 2_000 < path.stat().st_size < 100_000, path
        assert (ROOT / "docs" / "figures" / path.name).read_bytes() == path.read_bytes(), f"{path.name}: rerun docs/make_figures.py"
    linked = {m for md in (ROOT / "docs" / "learning").glob("*.md") for m in re.findall(r"\]\(\.\./figures/([^)]+)\)", md.read_text())}
    assert linked == {f"{stem}.svg" for stem in stems}  # every learning curve shown, and nothing missing
    assert all((ROOT / "docs" / "figures" / name).is_file() for name in linked)


def test_write_figures_is_what_make_results_can_call_with_its_results(tmp_path):
    from vlm_agent.tui.figures import write_figures

    result = {"env_id": "vlm_agent/NumberLine-v0", "success_rate": 0.9, "success_ci95": [0.8, 0.95], "episodes": 100, "row": "x"}
    written = write_figures([result], tmp_path, "png")
    assert [p.name for p in written] == ["eval-success.png"]  # no ALFWorld row: no per-type figure
    assert Path(written[0]).read_bytes()[:4] == b"\x89PNG"


def test_the_success_figure_keeps_the_newest_two_defaults_rows():
    from vlm_agent.tui.figures import shipped_rows

    rows = [{"row": label} for label in ("default-sft-v5", "default-sft-v6, generated games", "default-sft-v7",
                                         "default-sft-v10, paper frames", "SFT of v6 (runs/exp34, not shipped)")]
    assert [r["row"] for r in shipped_rows(rows)] == ["default-sft-v7", "default-sft-v10, paper frames"]  # by number, not text
    experiments = [{"row": "SFT (runs/exp7)"}, {"row": "teacher"}]
    assert shipped_rows(experiments) == experiments  # no default among them: every row
