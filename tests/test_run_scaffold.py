"""The run scaffold the trainers share: resume from the newest counters, refuse a used root, Ctrl-C, metrics, schedules."""
from __future__ import annotations

import json
import os
import signal

import pytest
from typer.testing import CliRunner

from test_finetune import write_logs
from tiny_models import build_tiny
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.cli.main import app
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession
from vlm_agent.training.finetune import PPOTrainer, finetune_once
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.run_scaffold import TrainingRun
from vlm_agent.training.sft import SFTConfig, run_sft
from vlm_agent.training.sft_data import SFTData, load_sft_data
from vlm_agent.training.vision_pretrain import VisionPretrainConfig, run_vision_pretrain

runner = CliRunner()
OPTIONS = {"preset": "tiny", "notes": "from a config file"}


def step_config(**fields) -> SFTConfig:
    """The settings of a step-counted run (SFT's dataclass, which has them all), small."""
    return SFTConfig(**{"steps": 4, "warmup_steps": 1, "eval_every": 100, "save_every": 100, **fields})


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build_tiny("idefics3", tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def expert_logs(tmp_path_factory):
    logs = tmp_path_factory.mktemp("expert") / "logs"
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=8, num_envs=4), ExpertAgent(seed=0), logs, "numberline")
    session.loop.run()
    session.finish()
    return logs


@pytest.fixture(scope="module")
def expert_data(expert_logs):
    """Answers and captions, every third held out. Not load_sft_data's split: it hashes the run's random id, and
    8 episodes at 0.3 left none held out (no eval lines) about 6% of the time."""
    data = load_sft_data([expert_logs], held_out_fraction=0.0, captions=True)
    held_out = data.train[::3]
    assert {e.kind for e in held_out} == {"answer", "caption"}
    return SFTData(train=[e for i, e in enumerate(data.train) if i % 3], held_out=held_out)


def start_run(model, out, config, resume=False, run_options=None) -> TrainingRun:
    """A step-counted run whose loss is cheap (no forward pass): the squared weights."""
    run = TrainingRun(out, "test", config, resume, run_options)
    policy = run.load_policy(model)
    run.build_step_optimizer([p for p in policy.parameters() if p.requires_grad])
    return run


def squared_weights(run: TrainingRun, seen: list | None = None):
    def loss_at(step: int):
        if seen is not None:
            seen.append(step)
        return sum((p**2).sum() for p in run.policy.parameters() if p.requires_grad), {"own": step}

    return loss_at


def metrics_lines(root) -> list[dict]:
    return [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]


def test_resume_continues_from_the_newest_versions_counters(model, tmp_path):
    first = start_run(model, tmp_path / "out", step_config(save_every=1, stop_at=2))
    first.run_steps(squared_weights(first), evaluate=None)
    assert [r.meta()["step"] for r in CheckpointStore(tmp_path / "out").versions()] == [1, 2]

    seen = []
    resumed = start_run(model, tmp_path / "out", step_config(save_every=100), resume=True)
    assert resumed.latest.name == "v000002" and resumed.counters == {"step": 2, "kind": "test"}
    assert resumed.scheduler.last_epoch == 2 and resumed.optimizer.state_dict()["state"], "schedule and moments restored"
    result = resumed.run_steps(squared_weights(resumed, seen), evaluate=None)
    assert seen == [2, 3] and result["step"] == 4 and not result["interrupted"]
    newest = CheckpointStore(tmp_path / "out").latest()
    assert newest.name == "v000003" and newest.meta()["parent"] == "v000002" and newest.meta()["step"] == 4


def test_a_root_with_versions_is_refused_without_resume_in_one_line(model, expert_data, tmp_path):
    run = start_run(model, tmp_path / "out", step_config(steps=1))
    run.run_steps(squared_weights(run), evaluate=None)
    for start in (
        lambda: TrainingRun(tmp_path / "out", "test", step_config()),
        lambda: run_sft(expert_data, model, tmp_path / "out", SFTConfig(steps=1, batch_size=2)),
        lambda: run_vision_pretrain(expert_data, model, tmp_path / "out", VisionPretrainConfig(steps=1, batch_size=2)),
    ):
        with pytest.raises(ValueError, match="already holds checkpoints .latest v000001.; pass --resume") as error:
            start()
        assert "\n" not in str(error.value)
    assert len(CheckpointStore(tmp_path / "out").versions()) == 1


def test_cli_sft_into_a_used_root_is_a_one_line_error(model, expert_logs, tmp_path):
    sft = ["sft", str(expert_logs), "--model", str(model), "--out", str(tmp_path / "out"), "--steps", "1", "--batch-size", "2", "--warmup-steps", "1"]
    assert runner.invoke(app, sft).exit_code == 0
    again = runner.invoke(app, sft)
    assert again.exit_code == 2 and "pass --resume" in again.output and "Traceback" not in again.output
    assert (tmp_path / "out" / "LATEST").read_text().strip() == "v000001"


def test_resume_of_an_empty_root_starts_from_the_start_model(model, tmp_path):
    run = start_run(model, tmp_path / "out", step_config(), resume=True)
    assert run.latest is None and run.counters == {} and run.scheduler.last_epoch == 0


def test_ctrl_c_publishes_the_step_in_flight_and_returns(model, tmp_path):
    run = start_run(model, tmp_path / "out", step_config(steps=10))
    loss = squared_weights(run)
    handler_before = signal.getsignal(signal.SIGINT)

    def interrupted_during_step_1(step: int):
        if step == 1:
            os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C arriving mid-step
        return loss(step)

    result = run.run_steps(interrupted_during_step_1, evaluate=None)
    assert result["interrupted"] and result["step"] == 2  # step 1 (the second) finished, then no more
    latest = CheckpointStore(tmp_path / "out").latest()
    assert latest.meta()["step"] == 2 and json.loads((latest.path / "trainer_state.json").read_text())["step"] == 2
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_metrics_lines_one_per_published_version_or_evaluation(model, tmp_path):
    run = start_run(model, tmp_path / "out", step_config(steps=6, eval_every=2, save_every=3))
    run.run_steps(squared_weights(run), evaluate=lambda: {"held_out_loss": 0.5})
    lines = metrics_lines(tmp_path / "out")
    assert [line["step"] for line in lines] == [2, 3, 4, 6]  # evals at 2, 4, 6; versions at 3 and 6 (the last, also an eval)
    assert [line.get("version") for line in lines] == [None, "v000001", None, "v000002"]
    assert ["held_out_loss" in line for line in lines] == [True, False, True, True]
    assert all(line["own"] == line["step"] - 1 and "time" in line for line in lines)


def test_run_options_are_every_versions_meta_run(model, tmp_path):
    run = start_run(model, tmp_path / "with", step_config(steps=2, save_every=1), run_options=OPTIONS)
    run.run_steps(squared_weights(run), evaluate=None)
    assert [r.meta()["run"] for r in CheckpointStore(tmp_path / "with").versions()] == [OPTIONS, OPTIONS]
    plain = start_run(model, tmp_path / "without", step_config(steps=1))
    plain.run_steps(squared_weights(plain), evaluate=None)
    assert "run" not in CheckpointStore(tmp_path / "without").latest().meta()


def test_sft_writes_a_metrics_line_per_eval_and_version_and_its_meta_run(model, expert_data, tmp_path):
    config = SFTConfig(steps=3, batch_size=2, warmup_steps=1, eval_every=1, save_every=2, held_out_batches=1)
    run_sft(expert_data, model, tmp_path / "out", config, run_options=OPTIONS)
    lines = metrics_lines(tmp_path / "out")
    assert [(line["step"], line.get("version")) for line in lines] == [(1, None), (2, "v000001"), (3, "v000002")]
    assert all("held_out_loss" in line and "loss" in line for line in lines)
    versions = CheckpointStore(tmp_path / "out").versions()
    assert [v.meta()["run"] for v in versions] == [OPTIONS, OPTIONS]
    assert set(versions[-1].meta()) >= {"kind", "step", "metrics", "config", "run"} and versions[-1].meta()["kind"] == "sft"


def test_vision_pretrain_writes_a_metrics_line_per_eval_and_version(model, expert_data, tmp_path):
    config = VisionPretrainConfig(steps=2, batch_size=2, warmup_steps=1, caption_tokens=8, head_width=8, eval_every=1, held_out_batches=1)
    run_vision_pretrain(expert_data, model, tmp_path / "out", config, run_options=OPTIONS)
    lines = metrics_lines(tmp_path / "out")
    assert [(line["step"], line.get("version")) for line in lines] == [(1, None), (2, "v000001")]
    assert all("held_out_token_accuracy" in line and "token_accuracy" in line for line in lines)
    assert CheckpointStore(tmp_path / "out").latest().meta()["run"] == OPTIONS


def test_ppo_writes_a_metrics_line_per_update_and_every_version_carries_meta_run(model, tmp_path):
    config = PPOConfig(update_epochs=1, lr=1e-3, max_version_lag=9)
    trainer = PPOTrainer(model, tmp_path / "out", config, run_options=OPTIONS)
    write_logs(trainer.policy, tmp_path / "logs" / "bandit", str(tmp_path / "out"), episodes=4, answers="+-")
    published = [finetune_once(trainer, [tmp_path / "logs"], warn=print) for _ in range(2)]
    trainer.close()
    lines = metrics_lines(tmp_path / "out")
    assert [(line["update"], line["version"]) for line in lines] == [(1, "v000002"), (2, "v000003")]
    _, metrics = published[-1]
    assert set(lines[-1]) == {"update", "time", "version"} | (set(metrics) - {"first_minibatch"})  # the line PPO always wrote
    assert [r.meta()["run"] for r in CheckpointStore(tmp_path / "out").versions()] == [OPTIONS] * 3  # the start version too


def test_step_schedule_keeps_its_values(model, tmp_path):
    """SFT's (and vision's) warmup + cosine to a tenth, as it was before it shared one function with PPO's."""
    run = start_run(model, tmp_path / "out", step_config(steps=10, warmup_steps=3, lr=1e-3))
    lrs = []
    for _ in range(12):
        lrs.append(run.scheduler.get_last_lr()[0])
        run.optimizer.step()
        run.scheduler.step()
    assert lrs == pytest.approx([
        3.333333333333333e-04, 6.666666666666666e-04, 1e-3, 1e-3, 9.554359905560886e-04, 8.305704108364302e-04,
        6.501344202803415e-04, 4.498655797196586e-04, 2.6942958916356994e-04, 1.4456400944391147e-04, 1e-4, 1e-4,
    ], rel=1e-12)


def test_ppo_schedule_keeps_its_values(model, tmp_path):
    """PPO's cosine to lr_min over total_updates, as it was before it shared one function with SFT's."""
    trainer = PPOTrainer(model, tmp_path / "out", PPOConfig(lr=1e-3, lr_min=1e-4, total_updates=5))
    factor = trainer.scheduler.lr_lambdas[0]
    assert [1e-3 * factor(u) for u in range(7)] == pytest.approx([
        1e-3, 9.140576474687263e-04, 6.890576474687264e-04, 4.109423525312738e-04, 1.8594235253127373e-04, 1e-4, 1e-4,
    ], rel=1e-12)


def test_a_second_trainer_on_a_claimed_root_is_refused_until_the_first_closes(tmp_path):
    from vlm_agent.runtime.checkpoints import RootClaimedError

    first = TrainingRun(tmp_path / "out", "sft", SFTConfig())
    with pytest.raises(RootClaimedError, match="in use by pid"):
        TrainingRun(tmp_path / "out", "ppo", PPOConfig(), resume=True)
    first.close()
    TrainingRun(tmp_path / "out", "ppo", PPOConfig(), resume=True).close()  # released: the root is free again


def test_a_refused_start_lets_go_of_the_root(model, tmp_path):
    run = TrainingRun(tmp_path / "out", "sft", SFTConfig(steps=1, save_every=1, eval_every=1))
    run.load_policy(model)
    run.build_step_optimizer([p for p in run.policy.parameters() if p.requires_grad])
    run.publish({}, {"step": 1})
    run.close()
    with pytest.raises(ValueError, match="pass --resume"):
        TrainingRun(tmp_path / "out", "sft", SFTConfig())
    TrainingRun(tmp_path / "out", "sft", SFTConfig(), resume=True).close()  # the refusal did not keep the claim
