"""`vlm-agent model init`, `sft` and `play --agent vlm` from the command line, as a user runs them."""
from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from vlm_agent.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "base"
    result = runner.invoke(app, ["model", "init", "--out", str(out), "--seed", "3", "--corpus-episodes", "2"])
    assert result.exit_code == 0, result.output
    assert "Idefics3ForConditionalGeneration" in result.output
    return out


def test_same_seed_same_model(base_model, tmp_path):
    again = tmp_path / "again"
    assert runner.invoke(app, ["model", "init", "--out", str(again), "--seed", "3", "--corpus-episodes", "2"]).exit_code == 0
    for name in ("model.safetensors", "tokenizer.json", "value_head.safetensors"):
        assert (again / name).read_bytes() == (base_model / name).read_bytes(), name
    other = tmp_path / "other"
    assert runner.invoke(app, ["model", "init", "--out", str(other), "--seed", "4", "--corpus-episodes", "2"]).exit_code == 0
    assert (other / "model.safetensors").read_bytes() != (base_model / "model.safetensors").read_bytes()


def test_init_refuses_to_overwrite(base_model):
    result = runner.invoke(app, ["model", "init", "--out", str(base_model)])
    assert result.exit_code == 2 and "already holds a model" in result.output


def test_play_with_the_vlm_logs_tokens_logprobs_masks_and_values(base_model, tmp_path):
    args = ["play", "numberline", "--model", str(base_model), "--episodes", "2", "--num-envs", "2",
            "--max-new-tokens", "6", "--headless", "--log-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    steps = pd.concat(pd.read_parquet(p) for p in sorted(tmp_path.glob("*/episodes/*.parquet")))
    assert (steps.agent_kind == "vlm").all() and (steps.policy_version == "base").all()
    for _, row in steps.iterrows():
        n = len(row.response_token_ids)
        assert 0 < n <= 6 and len(row.logprobs) == len(row.cot_mask) == len(row.action_mask) == n
        assert all(lp <= 0 for lp in row.logprobs) and row.value is not None
    # An untrained model writes garbage: every step is marked invalid, never silently replaced.
    assert (steps.parse_status != "ok").all() and (steps.fallback == "noop").all()


@pytest.mark.parametrize("make_bad", ["missing", "not_a_vlm"])
def test_bad_model_folder_is_one_line_error(make_bad, tmp_path):
    folder = tmp_path / "model"
    if make_bad == "not_a_vlm":
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "bert"}')
    result = runner.invoke(app, ["play", "numberline", "--model", str(folder), "--headless", "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "error:" in result.output


def test_sft_command_trains_and_resumes(base_model, tmp_path):
    logs = tmp_path / "logs"
    play = ["play", "numberline", "--agent", "expert", "--episodes", "6", "--headless", "--log-dir", str(logs)]
    assert runner.invoke(app, play).exit_code == 0
    sft = ["sft", str(logs), "--model", str(base_model), "--out", str(tmp_path / "sft"), "--batch-size", "4", "--warmup-steps", "1"]
    first = runner.invoke(app, sft + ["--steps", "2"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, sft + ["--steps", "3", "--resume"])
    assert second.exit_code == 0, second.output
    assert "at step 3" in " ".join(second.output.split())
    assert (tmp_path / "sft" / "LATEST").read_text().strip() == "v000002"


def test_vision_pretrain_then_sft_from_its_output(base_model, tmp_path):
    logs = tmp_path / "logs"
    play = ["play", "numberline", "--agent", "expert", "--episodes", "4", "--headless", "--log-dir", str(logs)]
    assert runner.invoke(app, play).exit_code == 0
    vision = runner.invoke(app, ["vision-pretrain", str(logs), "--model", str(base_model), "--out", str(tmp_path / "vision"), "--steps", "2", "--batch-size", "2"])
    assert vision.exit_code == 0, vision.output
    assert "at step 2" in " ".join(vision.output.split())
    sft = ["sft", str(logs), "--model", str(tmp_path / "vision"), "--out", str(tmp_path / "sft"), "--batch-size", "2", "--steps", "1", "--warmup-steps", "1"]
    result = runner.invoke(app, sft)
    assert result.exit_code == 0, result.output
    missing = runner.invoke(app, ["vision-pretrain", str(logs), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "v2")])
    assert missing.exit_code != 0 and "nope" in missing.output and len(missing.output.strip().splitlines()) <= 2


def test_sft_and_vision_pretrain_read_a_config_file_and_store_the_options_they_ran_with(base_model, tmp_path):
    import json

    logs = tmp_path / "logs"
    assert runner.invoke(app, ["play", "numberline", "--agent", "expert", "--episodes", "4", "--headless", "--log-dir", str(logs)]).exit_code == 0
    (tmp_path / "vision.toml").write_text(
        f'command = "vision-pretrain"\nlogs = ["{logs}"]\nmodel = "{base_model}"\nout = "{tmp_path / "vision"}"\nsteps = 5\nbatch-size = 2\n')
    vision = runner.invoke(app, ["vision-pretrain", "--config", str(tmp_path / "vision.toml"), "--steps", "1"])
    assert vision.exit_code == 0, vision.output
    (tmp_path / "sft.toml").write_text(f'logs = ["{logs}"]\nmodel = "{tmp_path / "vision"}"\nout = "{tmp_path / "sft"}"\n'
                                       'steps = 1\nbatch_size = 2\nwarmup_steps = 1\nfreeze_vision = true\n')
    result = runner.invoke(app, ["sft", "--config", str(tmp_path / "sft.toml")])
    assert result.exit_code == 0, result.output
    for root, command, steps in (("vision", "vision-pretrain", 1), ("sft", "sft", 1)):
        meta = json.loads(next((tmp_path / root / "versions").glob("v*/vlm_agent_checkpoint.json")).read_text())
        assert meta["run"]["command"] == command and meta["run"]["steps"] == steps == meta["config"]["steps"]
        assert meta["run"]["batch_size"] == 2 and meta["run"]["logs"] == [str(logs)]
    assert meta["config"]["freeze_vision"] is True


def test_eval_writes_json_with_the_command_and_interval(base_model, tmp_path):
    out = tmp_path / "result.json"
    args = ["eval", "numberline", "--model", str(base_model), "--episodes", "2", "--max-new-tokens", "4",
            "--out", str(out), "--log-dir", str(tmp_path / "logs")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(out.read_text())
    assert data["episodes"] == 2 and data["greedy"] and data["policy_version"] == "base"
    low, high = data["success_ci95"]
    assert 0.0 <= low <= data["success_rate"] <= high <= 1.0
    assert data["command"].startswith("vlm-agent ") and data["invalid_action_rate"] == 1.0
    assert data["row"] == "base"  # no --row: the results table names the row by the model's version


def test_eval_row_and_action_only_prompt_name_the_results_row(base_model, tmp_path):
    out = tmp_path / "result.json"
    args = ["eval", "numberline", "--model", str(base_model), "--episodes", "1", "--max-new-tokens", "4", "--prompt", "action-only",
            "--out", str(out), "--log-dir", str(tmp_path / "logs")]
    assert runner.invoke(app, args).exit_code == 0
    import json

    assert json.loads(out.read_text())["row"] == "base, action-only"
    assert runner.invoke(app, args + ["--row", "base, SFT + PPO"]).exit_code == 0
    assert json.loads(out.read_text())["row"] == "base, SFT + PPO"


def test_eval_of_a_wrong_checkpoint_is_one_line(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "LATEST").write_text("v000009\n")
    result = runner.invoke(app, ["eval", "numberline", "--model", str(tmp_path / "ckpt"), "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 2 and "not a complete checkpoint" in result.output


def test_export_leaves_training_state_behind_and_names_the_version(base_model, tmp_path):
    (base_model / "trainer_state.pt").write_bytes(b"optimizer")
    out = tmp_path / "shipped"
    result = runner.invoke(app, ["model", "export", str(base_model), "--out", str(out), "--version", "default-test"])
    (base_model / "trainer_state.pt").unlink()
    assert result.exit_code == 0, result.output
    assert not (out / "trainer_state.pt").exists() and (out / "value_head.safetensors").exists()
    assert "version default-test" in " ".join(result.output.split())
