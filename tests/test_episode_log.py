"""Episode logs: one atomic Parquet file per finished episode, read back exactly, bad files rejected."""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.episode_log import EpisodeWriter, new_run_id
from vlm_agent.runtime.log_reader import (
    LogFormatError,
    find_episode_files,
    iter_episodes,
    iter_runs,
    read_episode,
    read_steps,
)
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.play import PlaySession
from vlm_agent.runtime.records import RecordBus


def play_and_log(run_dir, episodes=3, num_envs=2, env_id="vlm_agent/NumberLine-v0"):
    bus = RecordBus()
    published = []
    writer = EpisodeWriter(run_dir, {"run_id": "r1", "note": "test"})
    bus.subscribe(writer.on_step)
    bus.subscribe(published.append)
    loop = RolloutLoop(LoopConfig(env_id=env_id, episodes=episodes, num_envs=num_envs), ExpertAgent(seed=0), bus, "r1")
    loop.run()
    loop.close()
    writer.close()
    return published, writer


def test_each_finished_episode_is_one_file_that_reads_back_exactly(tmp_path):
    published, writer = play_and_log(tmp_path / "run")
    files, partial = find_episode_files([tmp_path])
    assert len(files) == 3 == writer.episodes_written and partial == []
    read_back = [step for episode in iter_episodes([tmp_path]) for step in episode.steps()]
    key = lambda r: (r.episode_id, r.step)
    for original, back in zip(sorted(published, key=key), sorted(read_back, key=key)):
        assert np.array_equal(original.frame, back.frame)
        for name in ("prompt", "response", "parse_status", "action_sent", "reward", "terminated", "truncated",
                     "success", "episode_seed", "legal_actions", "sampling", "thought_coef"):
            assert getattr(original, name) == getattr(back, name), name


def test_logs_read_step_by_step_with_plain_pandas(tmp_path):
    play_and_log(tmp_path / "run", episodes=2, num_envs=1)
    frames = [pd.read_parquet(p) for p in sorted((tmp_path / "run" / "episodes").glob("*.parquet"))]
    steps = pd.concat(frames)
    assert {"episode_id", "step", "reward", "response", "frame_png"} <= set(steps.columns)
    assert steps.groupby("episode_id")["step"].apply(lambda s: list(s) == list(range(len(s)))).all()
    assert len(read_steps([tmp_path])) == len(steps)


def test_manifest_records_versions_config_and_is_found_by_iter_runs(tmp_path):
    play_and_log(tmp_path / "run")
    runs = list(iter_runs(tmp_path))
    assert [run_dir.name for run_dir, _ in runs] == ["run"]
    manifest = runs[0][1]
    assert manifest["note"] == "test" and manifest["schema_version"] == 2
    assert {"torch", "gymnasium", "python"} <= set(manifest["versions"])


def test_unfinished_episode_is_dropped_not_half_written(tmp_path):
    bus = RecordBus()
    writer = EpisodeWriter(tmp_path / "run", {})
    bus.subscribe(writer.on_step)
    loop = RolloutLoop(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=5), ExpertAgent(seed=0), bus, "r")
    loop.step()  # one step of an episode that needs more
    loop.close()
    writer.close()
    assert writer.episodes_written == 0 and writer.episodes_dropped == 1
    assert find_episode_files([tmp_path]) == ([], [])


def test_truncated_file_is_rejected_with_one_line_naming_it(tmp_path):
    play_and_log(tmp_path / "run", episodes=1, num_envs=1)
    path = next((tmp_path / "run" / "episodes").glob("*.parquet"))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(LogFormatError) as error:
        read_episode(path)
    message = str(error.value)
    assert str(path) in message and "\n" not in message


def test_foreign_parquet_and_missing_columns_are_rejected(tmp_path):
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.raises(LogFormatError, match="no schema version"):
        read_episode(foreign)
    play_and_log(tmp_path / "run", episodes=1, num_envs=1)
    good = next((tmp_path / "run" / "episodes").glob("*.parquet"))
    table = pq.read_table(good)
    pq.write_table(table.drop(["reward"]).replace_schema_metadata(table.schema.metadata), tmp_path / "noreward.parquet")
    with pytest.raises(LogFormatError, match="missing columns reward"):
        read_episode(tmp_path / "noreward.parquet")


def test_iteration_skips_bad_files_and_reports_each(tmp_path):
    play_and_log(tmp_path / "run", episodes=2, num_envs=1)
    (tmp_path / "run" / "episodes" / "junk.parquet").write_text("not parquet")
    skipped = []
    episodes = list(iter_episodes([tmp_path], on_skip=skipped.append))
    assert len(episodes) == 2 and len(skipped) == 1 and "junk.parquet" in skipped[0]
    with pytest.raises(LogFormatError):
        list(iter_episodes([tmp_path]))


def test_partial_temp_files_are_reported_as_unfinished_writes(tmp_path):
    play_and_log(tmp_path / "run", episodes=1, num_envs=1)
    (tmp_path / "run" / "episodes" / ".ep000009.parquet.1234.partial").write_bytes(b"PAR1")
    files, partial = find_episode_files([tmp_path])
    assert len(files) == 1 and [p.name for p in partial] == [".ep000009.parquet.1234.partial"]


def test_missing_log_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        find_episode_files([tmp_path / "absent"])


def test_sampling_and_info_survive_as_json(tmp_path):
    play_and_log(tmp_path / "run", episodes=1, num_envs=1)
    row = pd.read_parquet(next((tmp_path / "run" / "episodes").glob("*.parquet"))).iloc[-1]
    assert json.loads(row["sampling"]) == {} and isinstance(json.loads(row["info"]), dict)


# --- what a run leaves behind -----------------------------------------------------------------------
def test_the_next_writer_removes_the_temp_files_of_dead_writers_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = socket.gethostname()
    episodes = tmp_path / "killed-run" / "episodes"
    episodes.mkdir(parents=True)
    removed = [episodes / f".ep000003.parquet.{dead.pid}@{host}.partial", episodes.parent / f".summary.json.{dead.pid}@{host}.partial"]
    kept = [
        episodes / f".ep000004.parquet.{alive.pid}@{host}.partial",  # a write in progress
        episodes / f".ep000005.parquet.{dead.pid}@another-host.example.org.partial",  # its process cannot be asked
        episodes / f".ep000006.parquet.{dead.pid}.partial",  # named before the host was: whose is unknown
    ]
    try:
        for path in removed + kept:
            path.write_bytes(b"PAR1")
        play_and_log(tmp_path / "next-run", episodes=1, num_envs=1)
    finally:
        alive.kill()
        alive.wait()
    assert [path.exists() for path in removed] == [False, False]
    assert [path.exists() for path in kept] == [True, True, True]


class BrokenAgent(ExpertAgent):
    def act(self, observations):
        raise RuntimeError("the model fell over")


def test_a_run_that_fails_before_its_first_episode_leaves_no_folder(tmp_path):
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=2), BrokenAgent(seed=0), tmp_path / "logs", "numberline")
    with pytest.raises(RuntimeError):
        session.loop.step()
    summary = session.finish()
    assert list(tmp_path.rglob("*")) == [] and "log_dir" not in summary


def test_run_ids_made_in_the_same_instant_differ(monkeypatch):
    monkeypatch.setattr(time, "time_ns", lambda: 1_800_000_000_000_000_000)
    monkeypatch.setattr(time, "strftime", lambda *args: "20270115-093000")
    # 200,000 ids in one second: a 32-bit suffix collides here with probability ~99%, a 64-bit one ~1e-9
    assert len({new_run_id("numberline", "expert") for _ in range(200_000)}) == 200_000


def test_a_second_writer_on_a_run_folder_never_replaces_its_manifest_or_episodes(tmp_path):
    run = tmp_path / "run"
    play_and_log(run, episodes=1, num_envs=1)
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    bus = RecordBus()
    second = EpisodeWriter(run, {"note": "another run"})
    bus.subscribe(second.on_step)
    loop = RolloutLoop(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=1), ExpertAgent(seed=0), bus, "r2")
    with pytest.raises(FileExistsError, match="one writer"):
        loop.run()
    loop.close()
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before


def test_quitting_logs_the_episode_in_progress_as_truncated(tmp_path):
    config = LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=3, seed=2)  # seed 2's first episode takes four steps
    session = PlaySession(config, ExpertAgent(seed=0), tmp_path, "numberline")
    played = []
    session.bus.subscribe(played.append)
    session.loop.step()
    session.loop.step()
    summary = session.finish(keep_unfinished=True)
    [episode] = iter_episodes([tmp_path])
    steps = list(episode.steps())
    assert [(s.step, s.action_sent, s.reward) for s in steps] == [(r.step, r.action_sent, r.reward) for r in played]
    assert [s.truncated for s in steps] == [False, True] and not steps[-1].terminated and steps[-1].success is False
    assert steps[-1].info["stopped_by_user"] and "stopped_by_user" not in steps[0].info
    assert summary["episodes_kept_unfinished"] == 1 and summary["episodes_dropped"] == 0 and summary["episodes_written"] == 1
