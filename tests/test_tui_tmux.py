"""The real thing in a real terminal: `vlm-agent play` under tmux, read back with capture-pane."""
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlm_agent.runtime.log_reader import find_episode_files, read_episode

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

VLM_AGENT = Path(sys.executable).parent / "vlm-agent"


class Tmux:
    """A private tmux server (its own socket file), so nobody else's sessions are touched."""

    def __init__(self, socket: Path):
        self.socket = str(socket)

    def __call__(self, *args: str) -> str:
        command = ["tmux", "-S", self.socket, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "play")

    def wait_for(self, condition, timeout: float) -> float:
        started = time.monotonic()
        while not condition(self.screen()):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"not on screen within {timeout} s:\n{self.screen()}")
            time.sleep(0.05)
        return time.monotonic() - started


@pytest.fixture
def tmux(tmp_path_factory):
    server = Tmux(tmp_path_factory.mktemp("tmux") / "socket")
    yield server
    subprocess.run(["tmux", "-S", server.socket, "kill-server"], capture_output=True)


IDLE_IMPORT_SECONDS = 0.8  # the imports below on a quiet 2-core machine


def import_seconds() -> float:
    """How long this machine takes right now to start Python and import what `play` needs."""
    started = time.monotonic()
    code = "import vlm_agent.cli.main, vlm_agent.runtime.play, vlm_agent.tui.play_app, vlm_agent.agent.experts"
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.monotonic() - started


def test_play_under_tmux_shows_frame_answer_and_action_within_2s_and_q_keeps_the_log(tmux, tmp_path):
    # 2 s on a quiet machine. On a loaded one every phase of start-up slows down alike, so the bound
    # grows in proportion to how much slower the imports run right now.
    budget = 2.0 * max(1.0, import_seconds() / IDLE_IMPORT_SECONDS)
    command = f"{VLM_AGENT} play numberline --agent expert --episodes 5 --log-dir {tmp_path}; sleep 30"
    started = time.monotonic()
    tmux("new-session", "-d", "-s", "play", "-x", "80", "-y", "24", command)

    def step_on_screen(screen: str) -> bool:
        return "▀" in screen and '"action"' in screen and "✓ ok" in screen

    tmux.wait_for(step_on_screen, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < budget, f"first step took {elapsed:.2f} s to appear (budget {budget:.2f} s)"
    tmux.wait_for(lambda screen: "episodes 2/5" in screen, timeout=20)
    tmux("send-keys", "-t", "play", "q")
    tmux.wait_for(lambda screen: "success rate" in screen, timeout=10)  # the CLI's summary after the UI
    files, partial = find_episode_files([tmp_path])
    assert len(files) >= 2 and not partial
    for path in files:
        read_episode(path)
