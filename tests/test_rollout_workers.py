"""Rollout workers: disjoint seeds per worker and incarnation, a dead worker's episodes kept or counted, and
`train --rollout-workers 2` on a local Ray surviving a worker killed mid-run (the one test here that starts Ray)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tiny_models import build_tiny
from vlm_agent.cli.main import app
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.runtime.episode_log import EPISODES_DIR, MANIFEST
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.rollout_workers import (
    RAY_MISSING, SEED_BLOCK, RolloutWorker, WorkerPool, WorkersConfig, WorkerSpec, tally)
from vlm_agent.training.finetune import read_logs

ENV = "vlm_agent/NumberLine-v0"
runner = CliRunner()


def random_spec(folder: Path, num_envs: int = 1, workers: int = 2) -> WorkerSpec:
    return WorkerSpec(loop=LoopConfig(ENV, num_envs=num_envs, seed=7), folder=folder, workers=workers, agent="random")


def episode_seeds(run_dir: Path) -> set[int]:
    return {pq.read_table(p).column("episode_seed")[0].as_py() for p in (Path(run_dir) / EPISODES_DIR).glob("*.parquet")}


def test_workers_and_restarted_workers_play_disjoint_seeds(tmp_path):
    spec = random_spec(tmp_path)
    first = [RolloutWorker(spec, index).run(max_seconds=0.3) for index in (0, 1)]
    again = RolloutWorker(spec, 0).run(max_seconds=0.3)  # what Ray does when worker 0 dies: construct it again

    assert [r.incarnation for r in first] == [0, 0] and again.incarnation == 1
    assert len({r.run_dir for r in [*first, again]}) == 3  # each incarnation its own run folder
    seeds = [episode_seeds(r.run_dir) for r in [*first, again]]
    assert all(seeds) and all(r.episodes_written == len(s) for r, s in zip([*first, again], seeds))
    assert not seeds[0] & seeds[1] and not seeds[0] & seeds[2] and not seeds[1] & seeds[2]  # no start played twice
    assert min(seeds[2]) == 7 + SEED_BLOCK * 2  # incarnation 1 of worker 0 starts after every incarnation 0


def test_a_dead_workers_finished_episodes_are_kept_and_its_unfinished_ones_counted(tmp_path):
    spec = random_spec(tmp_path, num_envs=3, workers=1)
    dead = RolloutWorker(spec, 0)
    loop = dead.session.loop
    while dead.session.writer.episodes_written < 2:
        loop.step()
    in_flight = len(loop.active_slots())
    written = dead.session.writer.episodes_written
    # The process dies here: no finish, no final summary. Its replacement plays and ends cleanly.
    RolloutWorker(spec, 0).run(max_seconds=0.2)

    result = tally(tmp_path)
    assert (result.workers, result.incarnations, result.restarts) == (1, 2, 1)
    assert result.lost_with_dead_workers == in_flight == 3
    dead_run = next(run for run in result.runs if run["died"])
    assert dead_run["episodes_written"] == written and dead_run["incarnation"] == 0
    assert result.episodes_written == len(read_logs([tmp_path], pytest.fail))  # every file readable, none foreign


def test_rollout_workers_without_ray_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    result = runner.invoke(app, ["train", "numberline", "--rollout-workers", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert RAY_MISSING in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # refused before loading a model


def test_more_workers_than_a_local_ray_can_place_is_an_error_not_a_hang(tmp_path):
    class FakeRay:  # a started local Ray of 2 CPUs and no GPU
        @staticmethod
        def cluster_resources():
            return {"CPU": 2.0}

    pool = WorkerPool(random_spec(tmp_path), WorkersConfig(rollout_workers=3, worker_cpus=1.0))
    pool.ray = FakeRay
    with pytest.raises(ValueError, match=r"3 workers x 1 CPU need 3 CPUs; the Ray cluster has 2"):
        pool._check_capacity()
    pool.config = WorkersConfig(rollout_workers=1, worker_gpus=0.5)
    with pytest.raises(ValueError, match="GPU"):
        pool._check_capacity()
    pool.config = WorkersConfig(rollout_workers=4, worker_cpus=0.5)
    pool._check_capacity()  # fits


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny("idefics3", tmp_path_factory.mktemp("model"))


def worker_runs(folder: Path) -> list[tuple[Path, dict]]:
    runs = []
    for manifest in sorted(folder.glob(f"*/*/{MANIFEST}")):
        try:
            runs.append((manifest.parent, json.loads(manifest.read_text())["rollout"]))
        except (OSError, ValueError, KeyError):
            pass
    return runs


def test_train_with_two_ray_workers_survives_one_killed_and_loses_no_finished_episode(model_dir, tmp_path):
    """Starts a local Ray (60-120 s on 2 busy cores): kills worker 0 with SIGKILL mid-episode, after it logged one."""
    pytest.importorskip("ray")
    logs, out = tmp_path / "logs", tmp_path / "out"
    command = [sys.executable, "-m", "vlm_agent.cli.main", "train", "numberline", "--rollout-workers", "2", "--worker-cpus", "0.5",
               "--model", str(model_dir), "--out", str(out), "--log-dir", str(logs), "--updates", "3",
               "--episodes-per-update", "3", "--num-envs", "1", "--max-new-tokens", "3", "--epochs", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VLM_AGENT_THREADS": "1", "RAY_DEDUP_LOGS": "0"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    kept_before_kill: dict[str, int] = {}
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not kept_before_kill:
            for run_dir, rollout in worker_runs(logs):
                files = list((run_dir / EPISODES_DIR).glob("*.parquet"))
                started = json.loads((run_dir / "summary.json").read_text()).get("episodes_started", 0) if files else 0
                if rollout["worker"] == 0 and files and started > len(files):  # mid-episode, with one logged
                    niceness = os.getpriority(os.PRIO_PROCESS, rollout["pid"])
                    os.kill(rollout["pid"], signal.SIGKILL)  # as the OOM killer would
                    kept_before_kill[run_dir.name] = len(files)
            time.sleep(0.05)
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert kept_before_kill, "worker 0 never logged an episode"
    # The driver's own niceness, not Ray's background nice 15 on top: on a busy machine that starves the workers.
    assert niceness == os.getpriority(os.PRIO_PROCESS, 0)
    assert process.returncode == 0, output
    assert CheckpointStore(out).latest().name == "v000004"  # the start model, then the 3 updates

    folder = next(logs.iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    runs = {run["run"]: run for run in summary["runs"]}
    (killed,) = kept_before_kill
    assert runs[killed]["died"] and runs[killed]["episodes_written"] >= kept_before_kill[killed]  # none of its finished lost
    assert summary["restarts"] == 1 and summary["workers"] == 2
    assert summary["lost_with_dead_workers"] == runs[killed]["dropped"] == 1  # its one environment's episode in flight
    assert any(run["worker"] == 0 and run["incarnation"] == 1 for run in runs.values())  # it came back
    episodes = read_logs([folder], pytest.fail)
    assert len(episodes) == summary["episodes_written"] == sum(run["episodes_written"] for run in runs.values())
    versions = {step.policy_version for e in episodes for step in e.steps()}
    assert "v000001" in versions and len(versions) >= 2  # workers picked up published versions between episodes
    assert "(1 restarts)" in output


def test_a_damaged_manifest_beside_the_workers_runs_is_skipped(tmp_path):
    """A manifest that is valid JSON but not an object (or not UTF-8) is not a worker's run; it once crashed the tally."""
    from vlm_agent.runtime.rollout_workers import earlier_incarnations

    for name, content in (("list", b"[1, 2]"), ("text", b'"x"'), ("bytes", b"\xff\xfe")):
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_bytes(content)
    assert earlier_incarnations(tmp_path, 0) == 0
    assert tally(tmp_path).lost_with_dead_workers == 0
