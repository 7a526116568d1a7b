"""`vlm-agent play` from the command line: summary, exit codes, logs that survive SIGKILL."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlm_agent.cli.main import app
from vlm_agent.runtime.log_reader import find_episode_files, read_episode

runner = CliRunner()


def test_headless_expert_play_prints_a_summary_and_logs(tmp_path):
    result = runner.invoke(app, ["play", "numberline", "--agent", "expert", "--episodes", "12", "--num-envs", "3",
                                 "--headless", "--log-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "success rate" in result.output and "100.0%" in result.output
    files, partial = find_episode_files([tmp_path])
    assert len(files) == 12 and not partial
    summaries = list(tmp_path.glob("*/summary.json"))
    assert len(summaries) == 1


def test_repeats_log_each_start_several_times(tmp_path):
    result = runner.invoke(app, ["play", "numberline", "--agent", "expert", "--episodes", "4", "--repeats", "2", "--seed", "5",
                                 "--headless", "--log-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files, _ = find_episode_files([tmp_path])
    seeds = sorted(read_episode(f).table.column("episode_seed")[0].as_py() for f in files)
    assert seeds == [5, 5, 6, 6]


def test_bad_flags_are_one_line_errors_with_nonzero_exit(tmp_path):
    for args, fragment in [
        (["play", "chess", "--headless"], "unknown environment 'chess'"),
        (["play", "numberline", "--agent", "oracle", "--headless"], "unknown agent 'oracle'"),
        (["play", "numberline", "--agent", "expert", "--fallback", "guess", "--headless"], "unknown fallback"),
        (["play", "numberline", "--agent", "vlm", "--model", str(tmp_path / "nope"), "--headless"], "nope"),
    ]:
        result = runner.invoke(app, args + ["--log-dir", str(tmp_path)])
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_sigkill_leaves_every_finished_episode_readable(tmp_path):
    command = [sys.executable, "-m", "vlm_agent.cli.main", "play", "numberline", "--agent", "expert",
               "--episodes", "100000", "--headless", "--log-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(list(tmp_path.glob("*/episodes/*.parquet"))) < 5:
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    files, partial = find_episode_files([tmp_path])
    assert len(files) >= 5
    for path in files:
        read_episode(path)  # raises if any finished episode is unreadable
    explained = set(files) | set(partial) | set(tmp_path.glob("*/manifest.json"))
    assert {p for p in tmp_path.rglob("*") if p.is_file()} <= explained


@pytest.mark.parametrize("seed", ["-5", "99999999999999999999999"])
def test_a_seed_out_of_range_is_refused_before_a_run_folder_is_made(tmp_path, seed):
    result = CliRunner().invoke(app, ["play", "numberline", "--agent", "random", "--episodes", "1", "--headless",
                                      "--seed", seed, "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 2 and "Traceback" not in result.output and "seed" in result.output.lower()
    assert not (tmp_path / "logs").exists()


def test_a_seed_out_of_range_in_a_config_is_one_line():
    from vlm_agent.runtime.loop import LoopConfig

    with pytest.raises(ValueError, match="out of range"):
        LoopConfig(env_id="vlm_agent/NumberLine-v0", seed=-5)
