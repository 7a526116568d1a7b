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


def sft_running(built, tmp_path):
    """The tiny recipe's sft stage (30 steps) running under a runner of its own, past its first version."""
    _, built_out = built
    out = tmp_path / "out"
    out.mkdir()
    for name in ("base", "logs"):  # outputs in place without markers: the runner finds them done
        shutil.copytree(built_out / name, out / name)
    (tmp_path / "recipe.toml").write_text(TINY)
    args = [tmp_path / "recipe.toml", "--out", out, "--until", "sft", "--set", "sft_steps=30"]
    running = start_runner(args, tmp_path / "runner.log")
    wait_for(lambda: sft_step(out / "sft") >= 2, "sft's first version")
    return out, args, running


def test_a_killed_training_stage_continues_from_its_last_version(built, tmp_path):
    out, args, running = sft_running(built, tmp_path)
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


def test_a_trainer_stopped_by_its_own_ctrl_c_is_reported_as_stopped_and_continues(built, tmp_path):
    # A SIGINT sent to the stage itself (not to the runner) makes the trainer publish its step and exit 0 short of
    # its goal; the runner said "failed (exit code 0 ...)".
    out, args, running = sft_running(built, tmp_path)
    os.kill(started_pid(out, "sft"), signal.SIGINT)
    assert running.wait(timeout=120) == 130
    said = " ".join((tmp_path / "runner.log").read_text().split())
    stopped_at = sft_step(out / "sft")
    assert f"stage sft stopped early (its command exited 0 with {out / 'sft'} at step {stopped_at} of 30)" in said
    assert "rerun the same command to continue" in said and "failed" not in said
    assert [(t["status"], t["exit_code"]) for t in timings(out) if t["stage"] == "sft"] == [("stopped", 0)]
    assert not (out / ".recipe" / "sft.done").exists()

    result = recipe(args)
    assert result.exit_code == 0, result.output
    assert sft_step(out / "sft") == 30


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
    stage plays: v4 imitated the handcoded expert without a memory; v6 was measured on the ranked block."""
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, tmp_path / "out", {"alfworld_data": "/data/alfworld"})
    v4 = loaded.stage("alf-expert")
    assert (option_value(v4.args, "--agent"), option_value(v4.args, "--memory")) == ("expert-privileged", "off")
    for stage in loaded.stages:
        if stage.args[:2] == ["play", "alfworld"] and stage is not v4:
            expected = "ranked-random" if stage.name.startswith("alf-random-") else "ranked"
            assert option_value(stage.args, "--memory") == expected, stage.name


def test_v6_trains_after_v5_on_generated_games_and_dagger_labels_never_on_an_evaluation_split(tmp_path):
    out = tmp_path / "out"
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, out, {"alfworld_data": "/data/alfworld"})
    names = [stage.name for stage in loaded.stages]
    v6 = loaded.stages[names.index("export-v5") + 1:names.index("export-v6") + 1]
    assert v6[-1].name == "export-v6" and "default-sft-v6" in v6[-1].args
    assert {"--constrain-actions", "--avoid-repeats"} <= set(v6[-1].args)  # the decoding the shipped v6 records
    generated = {stage.output: option_value(stage.args, "--seed") for stage in v6 if stage.args[:2] == ["envs", "generate"]}
    assert generated == {out / "alf-games" / "seed1": "1", out / "alf-games" / "seed2": "2"}  # seed 7 is for evaluation
    alfworld = [stage for stage in v6 if stage.args[:2] == ["play", "alfworld"]]
    for stage in alfworld:  # generated games come from the recipe's own folders; the official ones from {alfworld_data}
        data = option_value(stage.args, "--alfworld-data")
        assert Path(data) in generated if data else stage.env == {"ALFWORLD_DATA": "/data/alfworld"}, stage.name
        official = data is None
        assert option_value(stage.args, "--split") in (("valid_train",) if official else ("train", "valid_seen")), stage.name
    # the teacher's games in both orders of the ranked line: the same games, one stage each
    teacher = {s.name.removeprefix("alf-teacher-"): s for s in alfworld if s.name.startswith("alf-teacher-")}
    shuffled = {s.name.removeprefix("alf-random-"): s for s in alfworld if s.name.startswith("alf-random-")}
    assert teacher.keys() == shuffled.keys() and len(teacher) == 5
    for key, stage in teacher.items():
        assert option_value(stage.args, "--agent") == option_value(shuffled[key].args, "--agent") == "expert"
        assert [option_value(stage.args, o) for o in ("--alfworld-data", "--split", "--episodes", "--seed")] == \
            [option_value(shuffled[key].args, o) for o in ("--alfworld-data", "--split", "--episodes", "--seed")]
    ranked, ranked2, shuffled_sft, final = (loaded.stage(n) for n in ("sft-ranked", "sft-ranked2", "sft-random", "sft-v6"))
    assert option_value(ranked.args, "--model") == str(loaded.stage("export-v5").output)
    assert option_value(ranked2.args, "--model") == str(ranked.root) and ranked2.trainer.goal == 505
    assert option_value(shuffled_sft.args, "--model") == str(ranked2.root) and str(out / "alf-random") in shuffled_sft.args
    assert str(out / "alf-random") not in ranked.args + ranked2.args
    # DAgger: the student of sft-random plays, constrained and greedy, and the teacher labels what it reaches
    dagger = [s for s in alfworld if option_value(s.args, "--teacher") == "expert"]
    assert {s.name for s in dagger} == {"alf-dagger-s2-train", "alf-dagger-s1-train", "alf-dagger-vt"}
    for stage in dagger:
        assert option_value(stage.args, "--model") == str(shuffled_sft.root) and {"--constrain-actions", "--greedy"} <= set(stage.args)
        assert names.index("sft-random") < names.index(stage.name) < names.index("sft-v6")
    assert option_value(final.args, "--model") == str(shuffled_sft.root) and "--freeze-vision" in final.args
    assert {str(out / d) for d in ("alf-teacher", "alf-random", "alf-dagger", "card-expert3", "card-more")} <= set(final.args)
    assert loaded.stage("export-v6").args[2] == str(final.root)


def test_every_stage_of_the_shipped_recipe_is_a_command_line_vlm_agent_accepts(tmp_path):
    result = recipe([ROOT / DEFAULT_RECIPE, "--out", tmp_path / "out", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["todo"] * len(load_recipe(ROOT / DEFAULT_RECIPE, tmp_path).stages)
    assert not (tmp_path / "out").exists(), "a dry run wrote something"
    (tmp_path / "typo.toml").write_text("[[stage]]\nname = 'a'\nrun = ['sft', 'logs', '--out', '{out}/x', '--steps', '3', '--stepz', '4']\n")
    result = recipe([tmp_path / "typo.toml", "--out", tmp_path / "out", "--dry-run"])
    assert result.exit_code == 2 and "stage a: No such option: --stepz" in result.output and len(result.output.splitlines()) == 1


def test_v7_is_the_last_stage_one_sft_from_v6_with_alfworld_pinned_and_no_evaluation_seed(tmp_path):
    out = tmp_path / "out"
    loaded = load_recipe(ROOT / DEFAULT_RECIPE, out, {"alfworld_data": "/data/alfworld"})
    names = [stage.name for stage in loaded.stages]
    v7 = loaded.stages[names.index("export-v6") + 1:]
    assert v7[-1].name == "export-v7" and "default-sft-v7" in v7[-1].args
    assert {"--constrain-actions", "--avoid-repeats"} <= set(v7[-1].args)  # the decoding the shipped v7 records
    sft = loaded.stage("sft-v7")
    assert option_value(sft.args, "--model") == str(loaded.stage("export-v6").output)
    assert [sft.args[i + 1] for i, a in enumerate(sft.args) if a == "--env-share"] == ["alfworld=0.5", "points24=0.25"]
    for stage in v7:
        if stage.args[0] == "play":  # card evaluations deal seeds 0-1999: no data stage may start there
            assert int(option_value(stage.args, "--seed")) >= 1_000_000, stage.name
            assert stage.args[1] != "alfworld", stage.name
        if stage.name.startswith("paper-"):
            assert (option_value(stage.args, "--render"), option_value(stage.args, "--prompt")) == ("paper", "paper")
    captioned = [sft.args[i + 1] for i, a in enumerate(sft.args) if a == "--caption-logs"]
    assert captioned == [str(loaded.stage(n).output) for n in ("bj-random", "paper-numberline", "paper-ezpoints")]
