"""A model states its own decoding defaults: recorded at export, carried by training, followed unless a flag says otherwise."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from script_loader import load_script
from tiny_models import build_tiny
from vlm_agent.cli.main import app
from vlm_agent.runtime.checkpoints import META, CheckpointStore, load_policy

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def meta_of(folder) -> dict:
    return json.loads((folder / META).read_text())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny model with no record (anyone's own), and its export recorded to be decoded constrained."""
    base = tmp_path_factory.mktemp("decoding")
    free = build_tiny("idefics3", base / "free")
    constrained = base / "constrained"
    invoke("model", "export", free, "--out", constrained, "--version", "tiny-constrained", "--constrain-actions")
    return {"free": free, "constrained": constrained}


def test_export_records_the_default_and_a_later_export_carries_or_overrides_it(models, tmp_path):
    assert meta_of(models["constrained"])["decoding"] == {"constrain_actions": True}
    invoke("model", "export", models["constrained"], "--out", tmp_path / "again", "--version", "again")
    assert meta_of(tmp_path / "again")["decoding"] == {"constrain_actions": True}  # carried from the source version
    invoke("model", "export", models["constrained"], "--out", tmp_path / "off", "--version", "off", "--no-constrain-actions")
    assert meta_of(tmp_path / "off")["decoding"] == {"constrain_actions": False}
    invoke("model", "export", models["free"], "--out", tmp_path / "plain", "--version", "plain")
    assert "decoding" not in meta_of(tmp_path / "plain")  # nothing recorded, nothing invented
    assert load_policy(tmp_path / "off").sampling["constrain_actions"] is False


@pytest.mark.parametrize(("model", "flags", "constrained"), [
    ("constrained", [], True),  # the model's own default, with no flag
    ("constrained", ["--no-constrain-actions"], False),  # the flag overrides it
    ("free", [], False),  # no record: the paper's free decoding
    ("free", ["--constrain-actions"], True),
])
def test_play_decodes_as_the_model_records_unless_a_flag_says_otherwise(models, tmp_path, model, flags, constrained):
    invoke("play", "numberline", "--model", models[model], "--episodes", "1", "--num-envs", "1", "--max-new-tokens", "8",
           "--headless", "--log-dir", tmp_path, *flags)
    (run,) = tmp_path.iterdir()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["agent"]["sampling"]["constrain_actions"] is constrained
    steps = pd.concat(pd.read_parquet(p) for p in sorted(run.glob("episodes/*.parquet")))
    assert set(steps.constrained) == {constrained} and set(steps.constrained_logprobs) == {constrained}


@pytest.fixture(scope="module")
def make_results():
    module = load_script("docs/make_results.py")
    ceilings = module.Ceilings((0.43, 0.09, 0.48), (0.43, 0.09, 0.48), 0.73, 0.92, 715)  # computing them takes minutes
    return lambda results: module.render(results, ceilings)


@pytest.mark.parametrize(("model", "flags", "decoding"), [
    ("constrained", [], "greedy, actions constrained"),
    ("constrained", ["--no-constrain-actions"], "greedy"),
    ("free", [], "greedy"),
])
def test_eval_logs_the_resolved_decoding_and_the_results_row_says_it(models, tmp_path, make_results, model, flags, decoding):
    out = tmp_path / "result.json"
    invoke("eval", "numberline", "--model", models[model], "--episodes", "1", "--num-envs", "1", "--max-new-tokens", "8",
           "--out", out, "--log-dir", tmp_path / "logs", "--row", "tiny", *flags)
    result = json.loads(out.read_text())
    constrained = decoding.endswith("constrained")
    assert result["constrained"] is constrained and result["protocols"]["greedy"]["constrained"] is constrained
    assert "constrain" not in result["row"]  # nobody typed it: the label below comes from the logged value
    row = next(line for line in make_results([result]).splitlines() if line.startswith("| vlm-agent tiny |"))
    assert [cell.strip() for cell in row.strip("|").split("|")][3] == decoding


def test_sft_versions_carry_the_decoding_of_the_model_they_started_from(models, tmp_path):
    logs = tmp_path / "logs"
    invoke("play", "numberline", "--agent", "expert", "--episodes", "2", "--headless", "--log-dir", logs)
    sft = ["sft", logs, "--batch-size", "2", "--warmup-steps", "1", "--save-every", "1", "--eval-every", "100"]
    invoke(*sft, "--model", models["constrained"], "--out", tmp_path / "sft", "--steps", "2")
    invoke(*sft, "--model", models["constrained"], "--out", tmp_path / "sft", "--steps", "3", "--resume")
    versions = CheckpointStore(tmp_path / "sft").versions()
    assert len(versions) == 3 and all(v.meta()["decoding"] == {"constrain_actions": True} for v in versions)
    assert load_policy(tmp_path / "sft").sampling["constrain_actions"] is True  # played from the root, decoded as recorded
    invoke(*sft, "--model", models["free"], "--out", tmp_path / "sft-free", "--steps", "1")
    assert all("decoding" not in v.meta() for v in CheckpointStore(tmp_path / "sft-free").versions())
    assert load_policy(tmp_path / "sft-free").sampling["constrain_actions"] is False


def test_online_training_plays_as_its_start_model_records_and_every_version_keeps_the_record(models, tmp_path):
    invoke("train", "numberline", "--model", models["constrained"], "--out", tmp_path / "out", "--updates", "1",
           "--episodes-per-update", "1", "--num-envs", "1", "--max-new-tokens", "3", "--epochs", "1",
           "--log-dir", tmp_path / "logs", "--headless")
    versions = CheckpointStore(tmp_path / "out").versions()
    assert [v.meta()["kind"] for v in versions] == ["start", "ppo"]
    assert all(v.meta()["decoding"] == {"constrain_actions": True} for v in versions)
    steps = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "logs").glob("*/episodes/*.parquet")))
    assert set(steps.constrained) == {True} and set(steps.constrained_logprobs) == {True}


def test_avoid_repeats_is_recorded_at_export_followed_by_play_and_refused_without_constrained_actions(models, tmp_path):
    invoke("model", "export", models["constrained"], "--out", tmp_path / "guarded", "--version", "g", "--avoid-repeats")
    assert meta_of(tmp_path / "guarded")["decoding"] == {"constrain_actions": True, "avoid_repeats": True}
    assert load_policy(tmp_path / "guarded").sampling["avoid_repeats"] is True
    assert "avoid_repeats" not in load_policy(tmp_path / "guarded", avoid_repeats=False).sampling
    # a free decoding asked of the model drops its recorded avoidance instead of failing
    assert load_policy(tmp_path / "guarded", constrain_actions=False).sampling["constrain_actions"] is False
    invoke("play", "numberline", "--model", tmp_path / "guarded", "--episodes", "1", "--num-envs", "1", "--max-new-tokens", "8",
           "--headless", "--log-dir", tmp_path / "logs")
    (run,) = (tmp_path / "logs").iterdir()
    assert json.loads((run / "manifest.json").read_text())["agent"]["sampling"]["avoid_repeats"] is True

    refused = runner.invoke(app, ["model", "export", str(models["free"]), "--out", str(tmp_path / "bad"), "--version", "b",
                                  "--avoid-repeats"])
    assert refused.exit_code != 0 and "--constrain-actions" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "bad").exists()
    asked = runner.invoke(app, ["play", "numberline", "--model", str(models["free"]), "--episodes", "1", "--headless",
                                "--avoid-repeats", "--log-dir", str(tmp_path / "logs2")])
    assert asked.exit_code != 0 and "constrained actions" in asked.output and "Traceback" not in asked.output
