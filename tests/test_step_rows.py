"""Typed step rows: provenance columns written at acting time, v1 logs still read, each frame decoded once per update."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from tiny_models import build_tiny
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.checkpoints import CheckpointStore, load_policy
from vlm_agent.runtime.episode_log import EpisodeWriter
from vlm_agent.runtime.log_reader import LogFormatError, iter_episodes, read_episode
from vlm_agent.runtime.log_schema import SCHEMA, StepRow, encode_png
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.records import RecordBus
from vlm_agent.training import ppo_data
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.ppo_data import Lineage, build_ppo_samples
from vlm_agent.training.ppo_update import ppo_update

ENV = "vlm_agent/NumberLine-v0"
PROVENANCE = ("constrained", "constrained_logprobs", "model_root")

# The episode log's schema as version 1 wrote it (before the provenance columns), spelled out here so
# the test does not depend on the code it checks.
V1_SCHEMA = pa.schema(
    [("run_id", pa.string()), ("episode_id", pa.string()), ("step", pa.int32()), ("env_id", pa.string()),
     ("env_index", pa.int32()), ("task_type", pa.string()), ("task_text", pa.string()), ("frame_png", pa.binary()),
     ("observation_text", pa.string()), ("legal_actions", pa.list_(pa.string())), ("prompt", pa.string()),
     ("response", pa.string()), ("response_token_ids", pa.list_(pa.int32())), ("logprobs", pa.list_(pa.float32())),
     ("cot_mask", pa.list_(pa.bool_())), ("action_mask", pa.list_(pa.bool_())), ("thought_coef", pa.float32()),
     ("action_value", pa.string()), ("parse_status", pa.string()), ("parse_reason", pa.string()),
     ("parsed_action", pa.string()), ("action_sent", pa.string()), ("fallback", pa.string()), ("reward", pa.float64()),
     ("terminated", pa.bool_()), ("truncated", pa.bool_()), ("success", pa.bool_()), ("value", pa.float32()),
     ("policy_version", pa.string()), ("agent_kind", pa.string()), ("sampling", pa.string()), ("episode_seed", pa.int64()),
     ("wall_time", pa.float64()), ("gen_seconds", pa.float32()), ("env_seconds", pa.float32()), ("info", pa.string())],
    metadata={b"vlm_agent.schema_version": b"1"},
)
FRAME = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)


def write_v1_episode(run_dir, name: str, agent_kind: str, sampling: dict, steps: int = 2) -> None:
    vlm = agent_kind == "vlm"
    rows = [dict(
        run_id="r1", episode_id=name, step=t, env_id=ENV, env_index=0, task_type="numberline", task_text="reach 5",
        frame_png=encode_png(FRAME), observation_text="at 3", legal_actions=["+", "-"], prompt="where next?",
        response='{"action": "+"}', response_token_ids=[5, 6] if vlm else None, logprobs=[-0.5, -0.25] if vlm else None,
        cot_mask=[True, False] if vlm else None, action_mask=[False, True] if vlm else None, thought_coef=0.5,
        action_value="+", parse_status="ok", parse_reason="", parsed_action="+", action_sent="+", fallback="",
        reward=float(t), terminated=t == steps - 1, truncated=False, success=True if t == steps - 1 else None,
        value=0.25 if vlm else None, policy_version="v000003" if vlm else "", agent_kind=agent_kind,
        sampling=json.dumps(sampling), episode_seed=7, wall_time=1.5, gen_seconds=0.0, env_seconds=0.0, info="{}",
    ) for t in range(steps)]
    (run_dir / "episodes").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=V1_SCHEMA), run_dir / "episodes" / f"{name}.parquet")


def test_step_rows_have_a_field_per_schema_column():
    assert sorted(f.name for f in dataclasses.fields(StepRow)) == sorted(SCHEMA.names)


def test_a_v1_log_reads_with_provenance_derived_from_its_sampling_and_manifest(tmp_path):
    root = tmp_path / "ckpt"
    run = tmp_path / "logs" / "run"
    write_v1_episode(run, "constrained", "vlm", {"temperature": 1.0, "constrain_actions": True, "constrained_logprobs": True})
    write_v1_episode(run, "raw_logprobs", "vlm", {"temperature": 1.0, "constrain_actions": True})  # before constrained_logprobs
    write_v1_episode(run, "free", "vlm", {"temperature": 1.0})
    write_v1_episode(run, "expert", "expert", {})
    (run / "manifest.json").write_text(json.dumps({"schema_version": 1, "model": str(root)}))
    episodes = {e.episode_id: e for e in iter_episodes([tmp_path / "logs"])}

    provenance = {name: {(r.constrained, r.constrained_logprobs, r.model_root) for r in e.rows} for name, e in episodes.items()}
    assert provenance == {"constrained": {(True, True, str(root))}, "raw_logprobs": {(True, False, str(root))},
                          "free": {(False, False, str(root))}, "expert": {(False, False, "")}}
    row = episodes["constrained"].rows[1]
    assert (row.step, row.reward, row.logprobs, row.response_token_ids, row.legal_actions, row.success) == (1, 1.0, [-0.5, -0.25], [5, 6], ["+", "-"], True)
    assert row.sampling == {"temperature": 1.0, "constrain_actions": True, "constrained_logprobs": True} and row.info == {}
    record = next(episodes["constrained"].steps())
    assert np.array_equal(record.frame, FRAME) and record.constrained and record.model_root == str(root)

    # Training reads the derived columns as it guessed them before v2: constrained re-scoring only
    # where the logged log-probs are the constrained policy's, versions of the root the manifest names.
    CheckpointStore(root).publish(lambda folder: None, {"kind": "ppo"})
    samples, report = build_ppo_samples(episodes.values(), current_version="v000003", max_version_lag=0, version_of=Lineage(root))
    assert {s.episode: s.legal_actions for s in samples} == {"r1/constrained": ["+", "-"], "r1/raw_logprobs": None, "r1/free": None}
    assert report.steps == 6 and not any(reason.startswith("older") for reason in report.skipped)


def test_a_v1_run_without_a_model_in_its_manifest_has_no_model_root(tmp_path):
    write_v1_episode(tmp_path / "run", "ep", "vlm", {})
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({"model": None}))
    assert read_episode(tmp_path / "run" / "episodes" / "ep.parquet").rows[0].model_root == ""
    write_v1_episode(tmp_path / "bare", "ep", "vlm", {})  # no manifest at all
    assert read_episode(tmp_path / "bare" / "episodes" / "ep.parquet").rows[0].model_root == ""


def test_a_v2_log_without_the_provenance_columns_is_rejected(tmp_path):
    write_v1_episode(tmp_path / "run", "ep", "vlm", {})
    path = tmp_path / "run" / "episodes" / "ep.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"vlm_agent.schema_version": b"2"}), path)
    with pytest.raises(LogFormatError, match="missing columns constrained, constrained_logprobs, model_root"):
        read_episode(path)


def play(agent, run_dir, episodes: int = 3, num_envs: int = 2) -> None:
    bus = RecordBus()
    writer = EpisodeWriter(run_dir, {"run_id": "r1"})
    bus.subscribe(writer.on_step)
    config = LoopConfig(env_id=ENV, episodes=episodes, num_envs=num_envs, env_kwargs={"max_position": 1})
    loop = RolloutLoop(config, agent, bus, "r1")
    loop.run()
    loop.close()
    writer.close()
    assert writer.episodes_written == episodes


def written_columns(run_dir) -> dict[str, set]:
    """The provenance columns as the files hold them (not as the reader would derive them)."""
    tables = [pq.read_table(p) for p in sorted((run_dir / "episodes").glob("*.parquet"))]
    assert {t.schema.metadata[b"vlm_agent.schema_version"] for t in tables} == {b"2"}
    return {name: {v for t in tables for v in t.column(name).to_pylist()} for name in PROVENANCE}


def test_a_scripted_play_writes_no_constraint_and_no_model_root(tmp_path):
    play(ExpertAgent(seed=0), tmp_path / "run")
    assert written_columns(tmp_path / "run") == {"constrained": {False}, "constrained_logprobs": {False}, "model_root": {""}}


@pytest.fixture(scope="module")
def constrained_play(tmp_path_factory):
    """A tiny VLM published as a checkpoint root, played from that root with constrained actions."""
    base = tmp_path_factory.mktemp("base")
    root = base / "ckpt"
    CheckpointStore(root).publish(load_policy(build_tiny("idefics3", base / "model")).save_pretrained, {"kind": "start"})
    policy = load_policy(root, constrain_actions=True, temperature=1.0, max_new_tokens=8, seed=1)
    play(policy, base / "logs" / "run")
    return policy, root, base / "logs"


def test_a_constrained_vlm_play_writes_the_constraint_and_its_checkpoint_root(constrained_play):
    policy, root, logs = constrained_play
    expected = {"constrained": {True}, "constrained_logprobs": {True}, "model_root": {str(root.resolve())}}
    assert written_columns(logs / "run") == expected
    rows = [row for e in iter_episodes([logs]) for row in e.rows]
    assert {row.policy_version for row in rows} == {"v000001"}
    assert {Lineage(root)(row.model_root, row.policy_version) for row in rows} == {1}  # from the column, no manifest needed


def test_each_frame_is_decoded_once_per_update(constrained_play, monkeypatch):
    policy, _, logs = constrained_play
    samples, _ = build_ppo_samples(iter_episodes([logs]))
    decoded = []
    real_decode = ppo_data.decode_png
    monkeypatch.setattr(ppo_data, "decode_png", lambda data: decoded.append(data) or real_decode(data))
    config = PPOConfig(update_epochs=3, minibatch_size=2)
    assert len(samples) > config.minibatch_size  # several minibatches per epoch, several epochs
    metrics = ppo_update(policy, samples, torch.optim.SGD(policy.parameters(), lr=0.0), config)
    assert metrics["optimizer_steps"] == 3 * -(-len(samples) // 2)
    assert len(decoded) == len(samples)  # one sample per logged step: each step's frame decoded once, not once per epoch
    assert metrics["first_minibatch"]["max_abs_ratio_minus_1"] < 1e-4  # re-scored constrained, as the column says
