"""A folder that cannot be written, or a disk that fills up, ends a command in one line naming the path.

Nothing already written is lost: the episodes logged before stay readable, and a checkpoint root's
LATEST keeps pointing at a complete version.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.cli.main import app
from vlm_agent.core.write_errors import WriteFailed
from vlm_agent.runtime import episode_log
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.runtime.log_reader import find_episode_files, read_episode
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession

ENOSPC = os.strerror(errno.ENOSPC)  # "No space left on device"


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


# --- a read-only folder ---------------------------------------------------------------------------
# Root writes into a chmod 0o500 folder anyway; as root the command runs without the capability that
# lets it (setpriv), so the folder's mode is obeyed as it is for any user.
def run_unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vlm_agent.cli.main", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a read-only folder does not stop root")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})


@pytest.fixture(scope="module")
def expert_logs(tmp_path_factory) -> Path:
    logs = tmp_path_factory.mktemp("logs")
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=2), ExpertAgent(seed=0), logs, "numberline")
    session.loop.run()
    session.finish()
    return logs


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    yield folder
    folder.chmod(0o700)


@pytest.mark.parametrize("command, named", [
    ("play numberline --agent expert --episodes 1 --headless --log-dir ro/logs", "ro/logs"),
    ("eval numberline --episodes 1 --num-envs 1 --log-dir ro/logs --out results.json", "ro/logs"),
    ("eval numberline --episodes 1 --num-envs 1 --log-dir logs --out ro/results.json", "ro/results.json"),
    ("sft LOGS --model LOGS --out ro/out", "ro/out"),
    ("vision-pretrain LOGS --model LOGS --out ro/out", "ro/out"),
    ("finetune LOGS --model LOGS --out ro/out", "ro/out"),
    ("train numberline --out ro/out --log-dir logs", "ro/out"),
])
def test_a_read_only_destination_is_one_line_naming_it_before_any_work(tmp_path, read_only, expert_logs, command, named):
    args = [str(expert_logs) if word == "LOGS" else word for word in command.split()]
    result = run_unprivileged(args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [f"error: cannot write {named}: Permission denied"], result.stderr
    assert "success rate" not in result.stdout  # eval refuses before playing, not after printing its table
    assert list(read_only.iterdir()) == []


def test_a_log_dir_under_a_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(app, ["play", "numberline", "--agent", "expert", "--episodes", "1", "--headless",
                                      "--log-dir", str(tmp_path / "file" / "logs")])
    assert result.exit_code == 2, result.output
    assert error_lines(result.output) == [f"error: cannot write {tmp_path / 'file' / 'logs'}: {tmp_path / 'file'} is not a folder"]


# --- a full disk ----------------------------------------------------------------------------------
def test_a_full_disk_while_logging_is_one_line_and_the_episodes_written_stay_readable(tmp_path, monkeypatch):
    real_write_table = episode_log.pq.write_table
    written = []

    def fills_up_at_the_third(table, where, **kwargs):
        if len(written) == 2:
            where.write(b"PAR1 half an episode")
            raise OSError(errno.ENOSPC, ENOSPC)
        real_write_table(table, where, **kwargs)
        written.append(table)

    monkeypatch.setattr(episode_log.pq, "write_table", fills_up_at_the_third)
    result = CliRunner().invoke(app, ["play", "numberline", "--agent", "expert", "--episodes", "5", "--headless",
                                      "--log-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    [line] = error_lines(result.output)
    assert line.startswith(f"error: cannot write {tmp_path}/") and line.endswith(f"/episodes/ep000002.parquet: {ENOSPC}"), line
    files, partial = find_episode_files([tmp_path])
    assert len(files) == 2 and partial == []
    for path in files:
        read_episode(path)


def test_a_full_disk_while_publishing_keeps_latest_on_the_complete_version(tmp_path):
    store = CheckpointStore(tmp_path / "root")
    store.publish(lambda folder: (folder / "weights").write_text("v1"), {})

    def fills_up(folder):
        (folder / "weights").write_text("half")
        raise OSError(errno.ENOSPC, ENOSPC)

    with pytest.raises(WriteFailed) as error:
        store.publish(fills_up, {})
    assert str(error.value) == f"cannot write {tmp_path / 'root' / 'versions'}: {ENOSPC}"
    assert store.latest().name == "v000001" and (store.latest().path / "weights").read_text() == "v1"
    assert [p.name for p in (tmp_path / "root" / "versions").iterdir()] == ["v000001"]  # no partial folder left


def test_torch_reporting_a_full_disk_as_a_runtime_error_is_named_as_a_full_disk(tmp_path, monkeypatch):
    from vlm_agent.runtime import checkpoints

    store = CheckpointStore(tmp_path / "root")

    def torch_save_on_a_full_disk(folder):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(checkpoints, "disk_full", lambda folder: True)
    with pytest.raises(WriteFailed, match=ENOSPC):
        store.publish(torch_save_on_a_full_disk, {})
    monkeypatch.setattr(checkpoints, "disk_full", lambda folder: False)
    with pytest.raises(RuntimeError, match="unexpected pos"):  # with room on the disk it is what it says
        store.publish(torch_save_on_a_full_disk, {})
    assert store.latest() is None


def test_sft_on_a_disk_that_fills_up_is_one_line_and_latest_stays_complete(tmp_path, expert_logs, monkeypatch):
    from tiny_models import build_tiny

    from vlm_agent.training import run_scaffold

    model = build_tiny("idefics3", tmp_path / "model")
    real_save = run_scaffold.save_trainer_state
    saves = []

    def fills_up_at_the_second(folder, *args, **kwargs):
        saves.append(folder)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, ENOSPC)
        real_save(folder, *args, **kwargs)

    monkeypatch.setattr(run_scaffold, "save_trainer_state", fills_up_at_the_second)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sft", str(expert_logs), "--model", str(model), "--out", str(out), "--steps", "2",
                                      "--save-every", "1", "--batch-size", "2"])
    assert result.exit_code == 2, result.output
    assert error_lines(result.output) == [f"error: cannot write {out / 'versions'}: {ENOSPC}"]
    store = CheckpointStore(out)
    assert store.latest().name == "v000001" and [ref.name for ref in store.versions()] == ["v000001"]
    assert not list((out / "versions").glob(".*"))
