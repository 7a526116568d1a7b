"""`vlm-agent model recipe`: stages run in order and are marked; a rerun skips what is done, resumes a
stopped trainer from its last version, and redoes a data stage that was killed half-way."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlm_agent.cli.main import app
from vlm_agent.cli.recipe_file import DEFAULT_RECIPE, load_recipe, option_value

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]

TINY = """
[vars]
sft_steps = "6"

[[stage]]
name = "init"
run = ["model", "init", "--out", "{output}", "--seed", "0", "--corpus-episodes", "1"]
output = "{out}/base"

[[stage]]
name = "expert"
run = ["play", "numberline", "--agent", "expert", "--episodes", "4", "--headless", "--log-dir", "{output}"]
output = "{out}/logs/numberline"

[[stage]]
name = "sft"
run = ["sft", "{out}/logs", "--model", "{out}/base", "--out", "{out}/sft", "--steps", "{sft_steps}", "--batch-size", "2",
       "--save-every", "2", "--eval-every", "100", "--warmup-steps", "1"]

[[stage]]
name = "export"
run = ["model", "export", "{out}/sft", "--out", "{output}", "--version", "tiny-v1"]
output = "{out}/default"
"""
STAGES = ["init", "expert", "sft", "export"]


def recipe(args: list[str]):
    return runner.invoke(app, ["model", "recipe", *map(str, args)])


def timings(out: Path) -> list[dict]:
    path = out / ".recipe" / "timings.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def start_runner(args: list[str], log: Path) -> subprocess.Popen:
    """The runner in a process of its own, as a user starts it (so that a test can signal it)."""
    command = [sys.executable, "-m", "vlm_agent.cli.main", "model", "recipe", *map(str, args)]
    return subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})


def wait_for(condition, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def started_pid(out: Path, stage: str, not_pid: int | None = None) -> int | None:
    path = out / ".recipe" / f"{stage}.started"
    try:
        pid = json.loads(path.read_text())["pid"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return pid if pid != not_pid else None


def sft_step(root: Path) -> int:
    latest = root / "LATEST"
    if not latest.exists():
        return 0
    return json.loads((root / "versions" / latest.read_text().strip() / "vlm_agent_checkpoint.json").read_text())["step"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    (folder / "recipe.toml").write_text(TINY)
    out = folder / "out"
    result = recipe([folder / "recipe.toml", "--out", out])
    assert result.exit_code == 0, result.output
    return folder / "recipe.toml", out


def test_the_whole_recipe_runs_and_marks_each_stage(built):
    path, out = built
    for name in STAGES:
        marker = json.loads((out / ".recipe" / f"{name}.done").read_text())
        assert marker["exit_code"] == 0 and marker["wall_seconds"] > 0 and marker["started"] <= marker["ended"]
        assert marker["command"] == load_recipe(path, out).stage(name).args
    assert [(t["stage"], t["status"]) for t in timings(out)] == [(name, "done") for name in STAGES]
    assert json.loads((out / "default" / "vlm_agent_checkpoint.json").read_text())["version"] == "tiny-v1"
    assert sft_step(out / "sft") == 6
    assert not list(out.rglob("*.recipe-partial")), "a temp output was left behind"


def test_a_rerun_runs_nothing(built, monkeypatch):
    path, out = built
    before = timings(out)
    monkeypatch.setattr("vlm_agent.cli.recipe_run.subprocess.Popen", lambda *a, **k: pytest.fail(f"ran {a}"))
    result = recipe([path, "--out", out])
    assert result.exit_code == 0, result.output
    assert timings(out) == before
    assert all(f"{name}: done" in result.output for name in STAGES)
    dry = recipe([path, "--out", out, "--dry-run"])
    assert [line.split()[0] for line in dry.output.splitlines()] == ["done"] * 4


def test_an_edited_stage_is_refused_in_one_line_unless_redone(built, tmp_path):
    path, out = built
    edited = tmp_path / "edited.toml"
    edited.write_text(TINY.replace("tiny-v1", "tiny-v2"))
    before = timings(out)
    result = recipe([edited, "--out", out])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "stage export" in result.output and "--redo export" in result.output
    assert timings(out) == before
    states = [line.split()[:2] for line in recipe([edited, "--out", out, "--dry-run"]).output.splitlines()]
    assert states[-1] == ["changed", "export:"] and all(state == "done" for state, _ in states[:-1])
    # --redo takes the stage and whatever reads its output; sft's root is read by export, not the other way.
    states = [line.split()[0] for line in recipe([edited, "--out", out, "--dry-run", "--redo", "sft"]).output.splitlines()]
    assert states == ["done", "done", "todo", "todo"]


def test_a_killed_training_stage_continues_from_its_last_version(built, tmp_path):
    _, built_out = built
    out = tmp_path / "out"
    out.mkdir()
    for name in ("base", "logs"):  # outputs in place without markers: the runner finds them done
        shutil.copytree(built_out / name, out / name)
    (tmp_path / "recipe.toml").write_text(TINY)
    args = [tmp_path / "recipe.toml", "--out", out, "--until", "sft", "--set", "sft_steps=30"]

    running = start_runner(args, tmp_path / "runner.log")
    wait_for(lambda: sft_step(out / "sft") >= 2, "sft's first version")
    os.kill(started_pid(out, "sft"), signal.SIGKILL)
    assert running.wait(timeout=120) == 1
    assert "stage sft failed (killed by SIGKILL)" in " ".join((tmp_path / "runner.log").read_text().split())
    killed_at = sft_step(out / "sft")
    assert 2 <= killed_at < 30 and not (out / ".recipe" / "sft.done").exists()

    result = recipe(args)
    assert result.exit_code == 0, result.output
    assert "sft (partial)" in result.output and "--resume" in result.output
    attempts = [t for t in timings(out) if t["stage"] == "sft"]
    assert [(t["status"], "--resume" in t["command"]) for t in attempts] == [("failed", False), ("done", True)]
    assert not any(t["stage"] in ("init", "expert") for t in timings(out)), "a finished stage ran again"
    files = sorted((out / "sft" / "versions").glob("v*/vlm_agent_checkpoint.json"))
    metas = [json.loads(path.read_text()) for path in files]
    steps = [meta["step"] for meta in metas]
    assert steps == sorted(steps) and killed_at in steps and steps[-1] == 30, f"the root started over: {steps}"
    assert [meta["parent"] for meta in metas[1:]] == [path.parent.name for path in files[:-1]]


def test_a_stopped_data_stage_leaves_only_a_temp_that_the_rerun_removes(tmp_path):
    """Ctrl-C (passed on to the stage), then kill -9: neither leaves the output; the rerun starts the stage over."""
    (tmp_path / "recipe.toml").write_text("""
[[stage]]
name = "expert"
run = ["play", "numberline", "--agent", "expert", "--episodes", "200", "--num-envs", "4", "--headless", "--log-dir", "{output}"]
output = "{out}/logs/numberline"
""")
    out = tmp_path / "out"
    args = [tmp_path / "recipe.toml", "--out", out]
    temp = out / "logs" / ".numberline.recipe-partial"
    for stop, code, says in ((lambda runner: runner.send_signal(signal.SIGINT), 130, "rerun the same command to continue"),
                             (lambda runner: os.kill(started_pid(out, "expert"), signal.SIGKILL), 1, "killed by SIGKILL")):
        shutil.rmtree(temp, ignore_errors=True)
        running = start_runner(args, tmp_path / "runner.log")
        wait_for(lambda: list(temp.glob("*/episodes/*.parquet")), "the first episode")
        stop(running)
        assert running.wait(timeout=120) == code
        assert says in " ".join((tmp_path / "runner.log").read_text().split())
        assert not (out / "logs" / "numberline").exists() and temp.exists()
        assert not (out / ".recipe" / "expert.done").exists()
    assert [t["status"] for t in timings(out)] == ["interrupted", "failed"]

    result = recipe(args)
    assert result.exit_code == 0, result.output
    assert not temp.exists()
    runs = list((out / "logs" / "numberline").iterdir())
    assert len(runs) == 1 and len(list(runs[0].glob("episodes/*.parquet"))) == 200


def test_a_failing_stage_exits_non_zero_in_one_line_and_is_not_marked(tmp_path):
    (tmp_path / "recipe.toml").write_text("""
[[stage]]
name = "broken"
run = ["play", "no-such-game", "--agent", "expert", "--headless", "--log-dir", "{out}/logs"]
""")
    result = recipe([tmp_path / "recipe.toml", "--out", tmp_path / "out"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1:] == ["error: stage broken failed (exit code 2); it is not marked done"]
    assert not (tmp_path / "out" / ".recipe" / "broken.done").exists()
    assert [(t["stage"], t["status"], t["exit_code"]) for t in timings(tmp_path / "out")] == [("broken", "failed", 2)]


@pytest.mark.parametrize("text, message", [
    ("[[stage]]\nname = 'a'\nrun = ['play', 'numberline', '--headless', '--log-dir', '{out}/x']\noutput = '{out}/x'\n", "never writes to {output}"),
    ("[[stage]]\nname = 'a'\nrun = ['play', 'numberline', '--log-dir', '{output}']\noutput = '{out}/x'\n", "play runs in a recipe with --headless"),
    ("[[stage]]\nname = 'a'\nrun = ['sft', 'logs', '--out', '{out}/sft']\n", "names its goal (--steps)"),
    ("[[stage]]\nname = 'a'\nrun = ['envs', '{nope}']\n", "unknown variable {nope}"),
    ("[[stage]]\nname = 'a'\nrun = ['envs']\nouput = 'x'\n", "unknown key(s) ouput"),
])
def test_a_wrong_recipe_is_one_line(tmp_path, text, message):
    (tmp_path / "recipe.toml").write_text(text)
    result = recipe([tmp_path / "recipe.toml", "--out", tmp_path / "out", "--dry-run"])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_the_shipped_recipe_reads_and_keeps_every_path_under_out(tmp_path):
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, tmp_path / "out", {"alfworld_data": "/data/alfworld"})
    names = [stage.name for stage in loaded.stages]
    assert names[0] == "init" and "export-v5" in names and "vision-1400" in names and "sft-5000" in names
    for stage in loaded.stages:
        product = stage.output or stage.root
        assert product is not None and Path(tmp_path / "out") in product.parents, stage.name
    assert loaded.stage("alf-expert").env == {"ALFWORLD_DATA": "/data/alfworld"}
    assert loaded.stage("vision-1400").trainer.goal == 1400 and loaded.stage("sft-alf-264").trainer.goal == 264


def test_every_alfworld_play_stage_names_its_agent_and_memory_as_they_were_run(tmp_path):
    """A later change of play's defaults (`expert` renamed, the memory's default style) must not change what a
    stage plays: v4 imitated the handcoded expert without a memory; the v6 drafts were measured on the grouped block."""
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, tmp_path / "out", {"alfworld_data": "/data/alfworld"})
    v4 = loaded.stage("alf-expert")
    assert (option_value(v4.args, "--agent"), option_value(v4.args, "--memory")) == ("expert-privileged", "off")
    for stage in loaded.stages:
        if stage.args[:2] == ["play", "alfworld"]:
            assert option_value(stage.args, "--memory") in ("off", "grouped"), stage.name


def test_the_v6_draft_trains_after_v5_on_generated_games_never_on_valid_unseen(tmp_path):
    out = tmp_path / "out"
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, out, {"alfworld_data": "/data/alfworld"})
    names = [stage.name for stage in loaded.stages]
    v6 = loaded.stages[names.index("export-v5") + 1:]
    assert v6[-1].name == "export-v6c-draft" and "default-sft-v6c-draft" in v6[-1].args
    assert "default-sft-v6-draft" not in " ".join(arg for stage in loaded.stages[:len(loaded.stages) - len(v6)] for arg in stage.args)
    generated = {stage.output: option_value(stage.args, "--seed") for stage in v6 if stage.args[:2] == ["envs", "generate"]}
    assert generated == {out / "alf-games" / "seed1": "1", out / "alf-games" / "seed2": "2"}
    alfworld = [stage for stage in v6 if stage.args[:2] == ["play", "alfworld"]]
    assert {option_value(s.args, "--split") for s in alfworld} == {"valid_train", "train", "valid_seen"}
    for stage in alfworld:  # generated games come from the recipe's own folders; the official ones from {alfworld_data}
        data = option_value(stage.args, "--alfworld-data")
        assert Path(data) in generated if data else stage.env == {"ALFWORLD_DATA": "/data/alfworld"}, stage.name
    dagger = [stage for stage in alfworld if option_value(stage.args, "--teacher") == "expert" and stage.name != "alf-dagger2-s2"]
    assert dagger and all(option_value(s.args, "--model") == str(out / "sft-v6") for s in dagger)
    first, grow, second = loaded.stage("sft-v6"), loaded.stage("grow-8"), loaded.stage("sft-v6-dagger")
    assert first.root == out / "sft-v6" and first.trainer.goal == 1800
    assert option_value(first.args, "--model") == str(loaded.stage("export-v5").output)
    # the DAgger SFT trains the grown copy of the first SFT's model, on its own root
    assert option_value(grow.args, "--layers") == "8" and grow.args[2] == str(first.root)
    assert option_value(second.args, "--model") == str(grow.output) and second.root != first.root
    assert str(out / "alf-dagger") in second.args and str(out / "alf-dagger") not in first.args
    assert names.index("sft-v6") < min(names.index(s.name) for s in dagger) < names.index("sft-v6-dagger")
    assert names.index("grow-8") < names.index("sft-v6-dagger")
    export = loaded.stage("export-v6-draft")
    assert export.args[2] == str(second.root) and "--constrain-actions" in export.args


def test_the_v6_draft_continues_with_paper_frames_and_a_second_dagger_round_from_the_dagger_sft(tmp_path):
    out = tmp_path / "out"
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, out, {"alfworld_data": "/data/alfworld"})
    names = [stage.name for stage in loaded.stages]
    paper = [s for s in loaded.stages if s.args[0] == "play" and option_value(s.args, "--render") == "paper"]
    assert {s.args[1] for s in paper} == {"numberline", "ezpoints", "points24", "blackjack"}
    assert all(option_value(s.args, "--agent") == "expert" for s in paper)
    assert {option_value(s.args, "--prompt") for s in paper} == {None, "paper"}
    # the paper frames of the same deals as the clear card data, so vision learns one deal in both renderings
    clear = {s.args[1]: option_value(s.args, "--seed") for s in loaded.stages if s.name.startswith("card-expert3-")}
    assert all(option_value(s.args, "--seed") == clear[s.args[1]] for s in paper if option_value(s.args, "--prompt") is None)
    vision, dagger2, sft = loaded.stage("vision-both"), loaded.stage("alf-dagger2-s2"), loaded.stage("sft-v6c")
    assert option_value(vision.args, "--model") == str(out / "sft-v6b") == option_value(dagger2.args, "--model")
    assert {str(out / "card-expert3"), str(out / "card-paper")} <= set(vision.args)
    assert option_value(dagger2.args, "--split") == "train" and option_value(dagger2.args, "--alfworld-data") == str(out / "alf-games" / "seed2")
    assert option_value(sft.args, "--model") == str(out / "vision-both") and "--freeze-vision" in sft.args
    assert {str(out / d) for d in ("alf-teacher", "alf-dagger", "alf-dagger2", "card-expert3", "card-paper", "card-paper-prompt")} <= set(sft.args)
    assert names.index("sft-v6-dagger") < min(names.index("vision-both"), names.index("alf-dagger2-s2")) < names.index("sft-v6c")
    export = loaded.stage("export-v6c-draft")
    assert export.args[2] == str(sft.root) and "--constrain-actions" in export.args


def test_every_stage_of_the_shipped_recipe_is_a_command_line_vlm_agent_accepts(tmp_path):
    result = recipe([ROOT / DEFAULT_RECIPE, "--out", tmp_path / "out", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["todo"] * len(load_recipe(ROOT / DEFAULT_RECIPE, tmp_path).stages)
    assert not (tmp_path / "out").exists(), "a dry run wrote something"
    (tmp_path / "typo.toml").write_text("[[stage]]\nname = 'a'\nrun = ['sft', 'logs', '--out', '{out}/x', '--steps', '3', '--stepz', '4']\n")
    result = recipe([tmp_path / "typo.toml", "--out", tmp_path / "out", "--dry-run"])
    assert result.exit_code == 2 and "stage a: No such option: --stepz" in result.output and len(result.output.splitlines()) == 1
