"""`play --reload`: the newest complete version is loaded between episodes, never a half-written one."""
from __future__ import annotations

import shutil

import pytest
import torch
from typer.testing import CliRunner

from tiny_models import build_tiny
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.checkpoint_watch import CheckpointWatcher
from vlm_agent.cli.main import app
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.records import RecordBus
from vlm_agent.runtime.checkpoints import LATEST, CheckpointStore

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny("idefics3", tmp_path_factory.mktemp("model"))


def publish_copy(root, model_dir, shift: float = 0.0):
    """Publish the tiny model as a new version, its lm_head shifted by `shift` (a visibly different policy)."""
    policy = load_policy(model_dir)
    with torch.no_grad():
        policy.model.lm_head.weight.add_(shift)
    return CheckpointStore(root).publish(policy.save_pretrained, {"kind": "test"})


def test_play_loads_the_newest_version_between_episodes_and_logs_it(model_dir, tmp_path):
    root = tmp_path / "ckpt"
    publish_copy(root, model_dir)
    policy = load_policy(root, max_new_tokens=3)
    events = []
    watcher = CheckpointWatcher(policy, root, events.append)
    records = []

    def on_step(record):
        records.append(record)
        if record.done and record.episode_id == "ep000000":
            publish_copy(root, model_dir, shift=0.5)  # the trainer publishes while episode 1 is being played

    bus = RecordBus()
    bus.subscribe(on_step)
    loop = RolloutLoop(LoopConfig("vlm_agent/NumberLine-v0", episodes=2, num_envs=1), policy, bus, "run", before_episode=watcher)
    loop.run()
    versions = {r.episode_id: {x.policy_version for x in records if x.episode_id == r.episode_id} for r in records}
    assert versions == {"ep000000": {"v000001"}, "ep000001": {"v000002"}}
    assert events == ["loaded v000002"]
    expected = load_policy(root).model.lm_head.weight
    assert torch.equal(policy.model.lm_head.weight, expected)


def test_a_half_written_or_broken_version_is_never_loaded(model_dir, tmp_path):
    root = tmp_path / "ckpt"
    publish_copy(root, model_dir)
    policy = load_policy(root)
    model = policy.model
    events = []
    watcher = CheckpointWatcher(policy, root, events.append)
    partial = root / "versions" / ".v000002.123.partial"  # a publish in progress: LATEST not switched yet
    shutil.copytree(root / "versions" / "v000001", partial)
    watcher()
    assert policy.model is model and policy.policy_version == "v000001"
    broken = root / "versions" / "v000002"  # a complete-looking version whose weights are cut short
    shutil.copytree(root / "versions" / "v000001", broken)
    (broken / "model.safetensors").write_bytes(b"truncated")
    (root / LATEST).write_text("v000002\n")
    watcher()
    watcher()
    assert policy.model is model and policy.policy_version == "v000001"
    assert len(events) == 1 and "v000002: not loaded" in events[0]


def test_reload_flag_needs_a_checkpoint_root(model_dir, tmp_path):
    for extra, fragment in [(["--model", str(model_dir)], "needs a checkpoint root"), (["--agent", "expert"], "--reload needs --agent vlm")]:
        result = runner.invoke(app, ["play", "numberline", "--reload", "--headless", "--episodes", "1", "--log-dir", str(tmp_path), *extra])
        assert result.exit_code == 2, result.output
        assert fragment in result.output and "Traceback" not in result.output
