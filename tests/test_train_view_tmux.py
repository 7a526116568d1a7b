"""`vlm-agent train` under tmux: the training view shows the versions and the diagnostics' curves while it trains on this CPU."""
import shutil

import pytest
from test_tui_tmux import VLM_AGENT, tmux  # noqa: F401  (the fixture)
from tiny_models import build_tiny

from vlm_agent.runtime.checkpoints import CheckpointStore

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_train_under_tmux_shows_versions_and_curves_and_q_leaves_the_published_versions(tmux, tmp_path):  # noqa: F811
    model = build_tiny("idefics3", tmp_path / "model")
    out = tmp_path / "out"
    command = (f"{VLM_AGENT} train numberline --model {model} --out {out} --updates 2 --episodes-per-update 2 --num-envs 1 "
               f"--max-new-tokens 3 --epochs 1 --log-dir {tmp_path / 'logs'}; sleep 30")
    tmux("new-session", "-d", "-s", "play", "-x", "110", "-y", "32", command)
    tmux.wait_for(lambda screen: "versions" in screen and "approx KL" in screen, timeout=60)  # the view is up
    tmux.wait_for(lambda screen: "finished" in screen, timeout=240)
    screen = tmux.screen()
    assert all(name in screen for name in ("v1", "v2", "v3")), screen  # the start and two published versions, with parents
    assert "v3       v2" in screen or "v3  " in screen, screen
    assert any(ch in screen for ch in "⠁⠂⠄⡀⢀⠈⠐⠠●"), screen  # plotext drew points (braille or a marker)
    tmux("send-keys", "-t", "play", "q")
    tmux.wait_for(lambda screen: "2 updates published; latest version v000003" in screen, timeout=30)
    assert CheckpointStore(out).latest().name == "v000003"
