"""PPO finetune from logs: ratio 1 before any step, learning toward the rewarded action, resume, LoRA, CLI errors."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest
import torch
from typer.testing import CliRunner

import vlm_agent.envs  # noqa: F401
from tiny_models import build_tiny
from vlm_agent.agent.interface import Decision
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.agent_factory import default_model_dir
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.agent.token_masks import generated_offsets, masks_from_offsets, text_offsets
from vlm_agent.cli.main import app
from vlm_agent.runtime.episode_log import EpisodeWriter
from vlm_agent.runtime.observation import observation_from
from vlm_agent.runtime.records import StepRecord
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.finetune import PPOTrainer, finetune_once, read_logs
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.ppo_math import step_logprob

ENV = "vlm_agent/NumberLine-v0"
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny("idefics3", tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def sampled_logs(model_dir, tmp_path_factory):
    """One-step episodes whose answers the tiny policy sampled itself (temperature 1), rewards +1/-1."""
    logs = tmp_path_factory.mktemp("logs")
    policy = load_policy(model_dir, temperature=1.0, max_new_tokens=8, seed=3)
    write_logs(policy, logs / "sampled", str(model_dir), episodes=6)
    return logs


def answer(action: str) -> str:
    return f'{{"thoughts": "go", "action": "{action}"}}'


def answer_logprob(policy: VLMPolicy, frame, prompt: str, text: str, thought_coef: float = 0.5) -> float:
    """The RL4VLM step log-prob of answering `text`."""
    d = fixed_decision(policy, frame, prompt, text, ["+", "-"])
    return float(step_logprob(torch.tensor(d.logprobs), torch.tensor(d.cot_mask).float(), torch.tensor(d.action_mask).float(), thought_coef))


@torch.no_grad()
def fixed_decision(policy: VLMPolicy, frame, prompt: str, text: str, legal) -> Decision:
    """The decision acting would log had the policy sampled `text`."""
    ids, _ = text_offsets(policy.tokenizer, text)
    ids = ids + [min(policy.eos_ids)]
    _, offsets = generated_offsets(policy.tokenizer, ids)
    parse = parse_action(text, legal)
    cot, action = masks_from_offsets(offsets, parse.span)
    evaluation = policy.evaluate([frame], [prompt], [ids])
    return Decision(prompt, text, parse, ids, evaluation.token_logprobs[0].tolist(), cot, action, float(evaluation.values[0]))


def write_logs(policy: VLMPolicy, folder, model_ref: str, episodes: int, answers: str | None = None, observations=None):
    """One-step episodes from one NumberLine frame, logged as `play` logs them, with the policy's own log-probs.

    With `answers` (e.g. "+-"), episode k answers answers[k % len] (+ earns +1, anything else -1);
    without, the policy samples its answers, to the given `observations` if any (one per episode).
    """
    env = gym.make(ENV)
    frame, info = env.reset(seed=0)
    obs = observation_from(ENV, frame, info)
    observations = observations or [obs] * episodes
    prompt = build_prompt(obs)
    writer = EpisodeWriter(folder, {"model": model_ref})
    if answers is None:  # generation's own ids and log-probs, as acting logs them
        decisions = policy.act(observations)
    else:
        decisions = [fixed_decision(policy, frame, prompt, answer(answers[k % len(answers)]), obs.legal_actions) for k in range(episodes)]
    for k, (o, d) in enumerate(zip(observations, decisions)):
        parse = d.parse
        writer.on_step(StepRecord(
            run_id="run", episode_id=f"ep{k:06d}", step=0, env_id=ENV, env_index=0, task_type="numberline", task_text="",
            frame=o.frame, observation_text="", legal_actions=list(o.legal_actions), prompt=d.prompt, response=d.text,
            response_token_ids=d.token_ids, logprobs=d.logprobs, cot_mask=d.cot_mask, action_mask=d.action_mask,
            thought_coef=0.5, action_value=parse.value, parse_status=parse.status.value, parse_reason="", parsed_action=parse.action,
            action_sent=parse.action or "", fallback="", reward=1.0 if parse.action == "+" else -1.0, terminated=True, truncated=False,
            success=parse.action == "+", value=d.value, policy_version=policy.policy_version, agent_kind="vlm",
            sampling=dict(policy.sampling), episode_seed=k, wall_time=0.0, gen_seconds=0.0, env_seconds=0.0,
            constrained=bool(policy.sampling.get("constrain_actions")),
            constrained_logprobs=bool(policy.sampling.get("constrained_logprobs")), model_root=policy.model_root,
        ))
    writer.close()
    return frame, prompt


def test_first_minibatch_has_ratio_one_and_clipped_loss_equal_to_unclipped(model_dir, sampled_logs, tmp_path):
    trainer = PPOTrainer(model_dir, tmp_path / "out", PPOConfig(update_epochs=1, lr=1e-3))
    ref, metrics = finetune_once(trainer, [sampled_logs], warn=print)
    first = metrics["first_minibatch"]
    assert first["max_abs_ratio_minus_1"] < 1e-4
    assert first["policy_loss"] == pytest.approx(first["unclipped_policy_loss"], abs=1e-6)
    assert ref.name == "v000002" and ref.meta()["parent"] == "v000001" and ref.meta()["kind"] == "ppo"
    assert CheckpointStore(tmp_path / "out").versions()[0].meta()["kind"] == "start"
    for key in ("approx_kl", "clip_fraction", "explained_variance", "entropy", "policy_loss", "value_loss", "mean_return", "success_rate"):
        assert key in metrics
    assert (tmp_path / "out" / "metrics.jsonl").read_text().count("\n") == 1
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))


def test_grpo_update_logs_strict_json_without_a_critic(model_dir, sampled_logs, tmp_path):
    trainer = PPOTrainer(model_dir, tmp_path / "out", PPOConfig(update_epochs=1, advantage="grpo"))
    ref, metrics = finetune_once(trainer, [sampled_logs], warn=print)
    assert metrics["samples"] > 0 and math.isnan(metrics["explained_variance"])  # no critic to explain anything

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    line = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(line, parse_constant=refuse)["explained_variance"] is None
    assert json.loads((ref.path / "vlm_agent_checkpoint.json").read_text(), parse_constant=refuse)["metrics"]["explained_variance"] is None


@pytest.mark.parametrize("lora_r", [0, 4])
def test_finetune_raises_the_probability_of_the_rewarded_action(model_dir, tmp_path, lora_r):
    out = tmp_path / "out"
    config = PPOConfig(lr=3e-3 if lora_r else 1e-3, max_grad_norm=1.0, update_epochs=3, minibatch_size=4, lora_r=lora_r, ent_coef=0.0)
    trainer = PPOTrainer(model_dir, out, config)
    frame, prompt = write_logs(trainer.policy, tmp_path / "logs" / "bandit", str(out), episodes=8, answers="+-")
    action_logprob = lambda policy, a: answer_logprob(policy, frame, prompt, answer(a), thought_coef=0.0)  # noqa: E731
    before = {a: action_logprob(trainer.policy, a) for a in "+-"}
    ref, metrics = finetune_once(trainer, [tmp_path / "logs"], warn=print)
    after = {a: action_logprob(trainer.policy, a) for a in "+-"}
    assert after["+"] > before["+"] + 0.05 and after["-"] < before["-"] - 0.05, (before, after)
    published = load_policy(ref.path)  # plain transformers folder, LoRA merged
    assert action_logprob(published, "+") == pytest.approx(after["+"], abs=1e-3)
    if lora_r:
        assert (ref.path / "lora_adapter" / "adapter_config.json").exists()
        trainer.close()  # one trainer per root
        resumed = PPOTrainer(None, out, trainer.config, resume=True)
        assert action_logprob(resumed.policy, "+") == pytest.approx(after["+"], abs=1e-3)


def test_resume_continues_from_the_newest_version_with_its_optimizer(model_dir, sampled_logs, tmp_path):
    config = PPOConfig(update_epochs=1, lr=1e-3, max_version_lag=5)
    first = PPOTrainer(model_dir, tmp_path / "out", config)
    finetune_once(first, [sampled_logs], warn=print)
    first.close()  # one trainer per root: the next ones may claim it
    with pytest.raises(ValueError, match="--resume"):
        PPOTrainer(model_dir, tmp_path / "out", config)
    resumed = PPOTrainer(None, tmp_path / "out", config, resume=True)
    assert resumed.version == "v000002" and resumed.updates == 1
    assert resumed.optimizer.state_dict()["state"], "optimizer moments restored"
    assert resumed.scheduler.last_epoch == 1
    ref, _ = finetune_once(resumed, [sampled_logs], warn=print)
    assert ref.name == "v000003" and ref.meta()["parent"] == "v000002" and ref.meta()["update"] == 2


def test_steps_older_than_the_version_lag_are_dropped_and_counted(model_dir, sampled_logs, tmp_path):
    trainer = PPOTrainer(model_dir, tmp_path / "out", PPOConfig(update_epochs=1, max_version_lag=0))
    _, metrics = finetune_once(trainer, [sampled_logs], warn=print)  # the start model played them: on-policy
    assert metrics["dropped_stale"] == 0
    with pytest.raises(ValueError, match="older than 0 policy versions"):
        finetune_once(trainer, [sampled_logs], warn=print)  # now one version behind


def test_corrupt_and_foreign_files_are_skipped_with_a_warning(sampled_logs, tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(sampled_logs, logs)
    (logs / "notes.txt").write_text("hello")
    (logs / "broken.parquet").write_bytes(b"not parquet")
    warnings = []
    episodes = read_logs([logs], warnings.append)
    assert len(episodes) == 6
    assert len(warnings) == 2 and all("skipped" in w for w in warnings)


def test_cli_finetune_errors_are_one_line(model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    for args, fragment in [
        (["finetune", str(tmp_path / "empty"), "--model", str(model_dir), "--out", str(tmp_path / "o1")], "no episode logs found"),
        (["finetune", str(tmp_path / "absent"), "--model", str(model_dir), "--out", str(tmp_path / "o2")], "absent"),
        (["finetune", str(tmp_path / "empty"), "--model", str(model_dir), "--out", str(tmp_path / "o3"), "--advantage", "vtrace"], "unknown advantage"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert fragment in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o1").exists()


def test_sigkilled_watch_resumes_from_the_last_published_version(model_dir, sampled_logs, tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    shutil.copytree(sampled_logs, logs)
    command = [sys.executable, "-m", "vlm_agent.cli.main", "finetune", str(logs), "--model", str(model_dir), "--out", str(out),
               "--watch", "--every", "1", "--poll-seconds", "0.1", "--max-version-lag", "9", "--epochs", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not (out / "versions" / "v000002").exists():
            time.sleep(0.05)
        run = next(logs.glob("*/episodes"))
        shutil.copy(run / "ep000000.parquet", run / "ep000099.parquet")  # a new episode: the watcher starts an update
        time.sleep(0.3)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    store = CheckpointStore(out)
    killed_at = store.latest()
    assert killed_at.name in ("v000002", "v000003")
    resumed = PPOTrainer(None, out, PPOConfig(update_epochs=1, max_version_lag=9), resume=True)
    assert resumed.version == killed_at.name
    assert not list((out / "versions").glob(".*"))  # the killed publish's partial folder is gone
    ref, _ = finetune_once(resumed, [logs], warn=print)
    assert ref.meta()["parent"] == killed_at.name


def test_online_train_plays_updates_and_publishes_in_one_process(model_dir, tmp_path):
    result = runner.invoke(app, ["train", "numberline", "--model", str(model_dir), "--out", str(tmp_path / "out"), "--updates", "2",
                                 "--episodes-per-update", "2", "--repeats", "2", "--num-envs", "1", "--max-new-tokens", "3",
                                 "--epochs", "1", "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    assert CheckpointStore(tmp_path / "out").latest().name == "v000003"
    episodes = read_logs([tmp_path / "logs"], print)
    versions = sorted({step.policy_version for e in episodes for step in e.steps()})
    assert versions == ["v000001", "v000002"]  # each round played by the version the previous round published
    seeds = sorted(e.table.column("episode_seed")[0].as_py() for e in episodes)
    assert seeds == [0, 0, 1, 1]  # one start per round, played twice; the next round moves on to the next start


def test_finetune_logs_alone_trains_the_model_that_played_them_and_says_how_to_play_it(tmp_path, monkeypatch):
    """The card's commands as typed, in a fresh folder: play with the shipped model, then `finetune logs/`."""
    monkeypatch.chdir(tmp_path)
    played = runner.invoke(app, ["play", "numberline", "--episodes", "16", "--num-envs", "8", "--headless"])
    assert played.exit_code == 0, played.output
    result = runner.invoke(app, ["finetune", "logs/"])
    assert result.exit_code == 0, result.output
    store = CheckpointStore(tmp_path / "checkpoints" / "finetune")
    assert store.latest().name == "v000002"
    start = store.versions()[0].meta()
    shipped = json.loads((default_model_dir() / "vlm_agent_checkpoint.json").read_text())["version"]
    assert start["source_version"] == shipped and shipped.startswith("default-sft-")  # the shipped model, which played the logs
    assert "vlm-agent play numberline --model checkpoints/finetune" in result.output
    again = runner.invoke(app, ["finetune", "logs/"])  # the default root started from the same model: continued
    assert again.exit_code == 0, again.output
    assert "continuing checkpoints/finetune" in again.output and store.latest().name == "v000003"


def test_logs_of_two_models_ask_for_model(model_dir, sampled_logs, tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    shutil.copytree(sampled_logs, logs)
    shutil.copytree(logs / "sampled", logs / "other")
    manifest = logs / "other" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(str(model_dir), str(tmp_path / "another-model")))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["finetune", str(logs)])
    assert result.exit_code == 2 and "played by 2 models" in result.output and "pass --model" in result.output
    assert not (tmp_path / "checkpoints").exists()


def test_a_versions_stored_options_re_run_it(model_dir, sampled_logs, tmp_path):
    first = ["finetune", str(sampled_logs), "--model", str(model_dir), "--out", str(tmp_path / "a"), "--epochs", "1", "--lr", "1e-4",
             "--no-norm-adv", "--max-version-lag", "9"]
    assert runner.invoke(app, first).exit_code == 0
    stored = CheckpointStore(tmp_path / "a").latest().meta()["run"]
    assert stored["command"] == "finetune" and stored["lr"] == 1e-4 and stored["norm_adv"] is False
    version = CheckpointStore(tmp_path / "a").latest().path
    result = runner.invoke(app, ["finetune", "--config", str(version), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    rerun = CheckpointStore(tmp_path / "b").latest().meta()
    assert rerun["run"] == {**stored, "out": str(tmp_path / "b")}
    assert rerun["config"] == CheckpointStore(tmp_path / "a").latest().meta()["config"]


def test_finetune_on_unreadable_logs_is_one_line_and_leaves_out_untouched(model_dir, tmp_path):
    logs = tmp_path / "logs" / "run" / "episodes"
    logs.mkdir(parents=True)
    (logs / "ep000000.parquet").write_bytes(b"not parquet")
    result = runner.invoke(app, ["finetune", str(tmp_path / "logs"), "--model", str(model_dir), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no readable episode log" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # before: the start model was copied into --out first
