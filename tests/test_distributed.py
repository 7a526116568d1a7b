"""torchrun data parallelism on this CPU (gloo): two processes make the one-process update and publish once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from safetensors.torch import load_file

from test_finetune import write_logs
from tiny_models import build_tiny
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.checkpoints import CheckpointStore, load_policy
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession
from vlm_agent.training.distributed import Ranks
from vlm_agent.training.finetune import PPOTrainer, finetune_once
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.sft import SFTConfig, run_sft
from vlm_agent.training.sft_data import load_sft_data

WEIGHT_FILES = ("model.safetensors", "value_head.safetensors")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny model, six one-step episodes it sampled itself, and six expert NumberLine episodes."""
    root = tmp_path_factory.mktemp("ddp")
    model = build_tiny("idefics3", root / "model")
    write_logs(load_policy(model, temperature=1.0, max_new_tokens=8, seed=3), root / "sampled" / "run", str(model), episodes=6)
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=6, num_envs=2), ExpertAgent(seed=0), root / "expert", "numberline")
    session.loop.run()
    session.finish()
    return model, root


def cli(args: list[str], nproc: int = 1, timeout: float = 240) -> subprocess.CompletedProcess:
    """`vlm-agent ARGS`, in one process or under `torchrun --nproc-per-node nproc` (gloo on this CPU)."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)] if nproc > 1 else [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    result = subprocess.run([*launch, "-m", "vlm_agent.cli.main", *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def max_weight_difference(a, b) -> float:
    worst = 0.0
    for name in WEIGHT_FILES:
        x, y = load_file(str(a / name)), load_file(str(b / name))
        assert x.keys() == y.keys()
        worst = max(worst, max(float((x[k].float() - y[k].float()).abs().max()) for k in x))
    return worst


def test_finetune_under_torchrun_makes_the_one_process_update_publishes_once_and_resumes(setup, tmp_path):
    model, root = setup
    # Minibatches of 3 split 2 + 1 over the ranks: uneven shares must still weigh as one process does.
    config = PPOConfig(update_epochs=2, minibatch_size=3, lr=1e-3)
    finetune_once(PPOTrainer(model, tmp_path / "one", config), [root / "sampled"], warn=print)
    args = ["finetune", str(root / "sampled"), "--model", str(model), "--epochs", "2", "--minibatch-size", "3", "--lr", "1e-3"]
    two = cli(args + ["--out", str(tmp_path / "two")], nproc=2)
    one_store, two_store = CheckpointStore(tmp_path / "one"), CheckpointStore(tmp_path / "two")
    assert [v.name for v in two_store.versions()] == ["v000001", "v000002"]  # the start and exactly one update
    assert (tmp_path / "two" / "metrics.jsonl").read_text().count("\n") == 1
    assert two.stdout.count("v000002 from v000001") == 1  # only rank 0 talks
    assert max_weight_difference(one_store.latest().path, two_store.latest().path) < 1e-5
    moved = load_file(str(model / "model.safetensors"))
    assert max(float((moved[k] - load_file(str(two_store.latest().path / "model.safetensors"))[k]).abs().max()) for k in moved) > 1e-4
    one_metrics, two_metrics = (json.loads((t / "metrics.jsonl").read_text()) for t in (tmp_path / "one", tmp_path / "two"))
    for key in ("policy_loss", "value_loss", "approx_kl", "clip_fraction", "grad_norm"):
        assert two_metrics[key] == pytest.approx(one_metrics[key], abs=1e-5)  # diagnostics of the whole batch, not rank 0's share
    assert two_store.latest().meta()["world_size"] == 2

    cli(args + ["--out", str(tmp_path / "two"), "--resume", "--max-version-lag", "9"], nproc=2)
    assert [v.name for v in two_store.versions()] == ["v000001", "v000002", "v000003"]
    assert two_store.latest().meta()["parent"] == "v000002" and two_store.latest().meta()["update"] == 2


def test_sft_under_torchrun_ddp_and_fsdp_make_the_one_process_steps(setup, tmp_path):
    model, root = setup
    # Batches of 5 split 3 + 2; the loss is a mean over answer tokens, so each rank weighs its share by tokens.
    config = SFTConfig(steps=2, batch_size=5, warmup_steps=1, lr=1e-4)
    run_sft(load_sft_data([root / "expert"], 0.0), model, tmp_path / "one", config)
    args = ["sft", str(root / "expert"), "--model", str(model), "--steps", "2", "--batch-size", "5", "--warmup-steps", "1",
            "--held-out", "0", "--lr", "1e-4"]
    cli(args + ["--out", str(tmp_path / "two")], nproc=2)
    cli(args + ["--out", str(tmp_path / "fsdp"), "--fsdp"], nproc=2)  # FSDP2 shards work on gloo too: the same update
    one = CheckpointStore(tmp_path / "one")
    for name in ("two", "fsdp"):
        other = CheckpointStore(tmp_path / name)
        assert [v.name for v in other.versions()] == ["v000001"]
        assert other.latest().meta()["fsdp"] == (name == "fsdp")
        assert max_weight_difference(one.latest().path, other.latest().path) < 1e-5
        assert json.loads((tmp_path / name / "metrics.jsonl").read_text())["loss"] == pytest.approx(
            json.loads((tmp_path / "one" / "metrics.jsonl").read_text())["loss"], abs=1e-6)
    assert load_policy(tmp_path / "fsdp").model.config.model_type == "idefics3"  # gathered weights load as a plain folder


def test_fsdp_needs_torchrun_and_refuses_resume_and_lora(setup, tmp_path):
    model, root = setup
    from vlm_agent.agent.device_config import DeviceConfig

    with pytest.raises(ValueError, match="torchrun"):
        run_sft(load_sft_data([root / "expert"], 0.0), model, tmp_path / "a", SFTConfig(steps=1), device=DeviceConfig(fsdp=True))
    with pytest.raises(ValueError, match="not with --resume"):
        PPOTrainer(model, tmp_path / "b", PPOConfig(lora_r=4), device=DeviceConfig(fsdp=True))


LEAVES = """
import os, sys
import torch.distributed as dist
from pathlib import Path
from vlm_agent.training.sft import SFTConfig, run_sft
from vlm_agent.training.sft_data import load_sft_data
model, root, out = map(Path, sys.argv[1:4])
run_sft(load_sft_data([root / "expert"], 0.0), model, out, SFTConfig(steps=1, batch_size=4, warmup_steps=1, lr=1e-4))
from vlm_agent.training import distributed
(out.parent / f"rank{os.environ['RANK']}.txt").write_text(f"group still initialized: {dist.is_initialized()}; "
                                                          f"tensors gloo still holds: {len(distributed._held)}")
"""


def test_a_torchrun_sft_leaves_the_process_group_when_it_ends(setup, tmp_path):
    # A rank aborted at interpreter exit after the run had published (`terminate called without an active exception`,
    # about 1 launch in 15 here): gloo's worker thread was still letting go of the last collective's tensor, which takes
    # the GIL, while the interpreter finalized. The run now waits for the workers to let go, then destroys its group.
    model, root = setup
    script = tmp_path / "leaves.py"
    script.write_text(textwrap.dedent(LEAVES))
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", str(script), str(model), str(root),
                             str(tmp_path / "out")], capture_output=True, text=True, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for rank in (0, 1):
        assert (tmp_path / f"rank{rank}.txt").read_text() == "group still initialized: False; tensors gloo still holds: 0"
    assert [v.name for v in CheckpointStore(tmp_path / "out").versions()] == ["v000001"]


HANG = """
import sys, time, torch
from vlm_agent.training import distributed
ranks = distributed.start(torch.device("cpu"), timeout_s=3)
distributed.barrier(ranks, "warming up")
if ranks.rank == 1:
    time.sleep(60)  # hung: never reaches the next collective
try:
    distributed.broadcast(ranks, "v000002", "publishing a version")
except distributed.RankFailure as error:
    print(error, flush=True)
    sys.exit(3)
"""


def test_a_hung_rank_fails_the_run_within_the_timeout_and_is_named(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text(textwrap.dedent(HANG))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", str(script)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert time.monotonic() - started < 50  # the timeout, not the hung rank's 60 s
    line = next(line for line in result.stdout.splitlines() if line.startswith("rank 0:"))
    assert "publishing a version" in line and "rank 1 is hung or died after 'warming up'" in line


def test_one_process_has_one_rank_and_its_share_is_everything(monkeypatch):
    from vlm_agent.training.distributed import ranks_from_env, start

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert ranks_from_env() == Ranks() and not start(torch.device("cpu")).distributed
    assert Ranks().share([4, 1, 3]) == [4, 1, 3]
    assert Ranks(1, 2, 1).share([4, 1, 3]) == [1] and Ranks(0, 2, 0).share([4, 1, 3]) == [4, 3]


def test_train_and_watch_refuse_torchrun_with_one_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from vlm_agent.cli.main import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    runner = CliRunner()
    result = runner.invoke(app, ["train", "numberline", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "under torchrun use finetune" in result.output
    result = runner.invoke(app, ["finetune", str(tmp_path), "--watch", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--watch runs in one process" in result.output
