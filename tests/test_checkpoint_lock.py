"""One writer per checkpoint root: a claim (LOCK) that names its holder and outlives no crash, and a
publish that refuses to fork the history when LATEST moved under it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from vlm_agent.runtime.checkpoints import LOCK, CheckpointStore, LatestMovedError, RootClaimedError


def save_text(content):
    def save(folder):
        (folder / "weights.txt").write_text(content)
    return save


def hold_claim(root):
    """Another process that claims `root` as 'finetune A' and keeps it until killed."""
    script = textwrap.dedent(f"""
        import sys, time
        from vlm_agent.runtime.checkpoints import CheckpointStore
        claim = CheckpointStore({str(root)!r}).claim(command="finetune A")
        print("claimed", flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "claimed"
    return process


def test_a_second_claim_is_refused_in_one_line_naming_the_holder(tmp_path):
    holder = hold_claim(tmp_path / "ckpt")
    try:
        with pytest.raises(RootClaimedError) as error:
            CheckpointStore(tmp_path / "ckpt").claim(command="finetune B")
        message = str(error.value)
        assert "\n" not in message and f"pid {holder.pid} on {socket.gethostname()}" in message and "finetune A" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = hold_claim(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == holder.pid  # the dead holder is still written there
    with CheckpointStore(tmp_path).claim(command="finetune B") as claim:
        assert claim.took_over is not None and claim.took_over.pid == holder.pid
        recorded = json.loads((tmp_path / LOCK).read_text())
        assert recorded["pid"] == os.getpid() and recorded["command"] == "finetune B" and recorded["host"] == socket.gethostname()
        assert recorded["started"]


def test_a_released_claim_frees_the_root_and_leaves_no_holder(tmp_path):
    store = CheckpointStore(tmp_path)
    with store.claim():
        with pytest.raises(RootClaimedError, match=f"pid {os.getpid()}"):
            store.claim()
    assert (tmp_path / LOCK).read_text() == ""
    with store.claim() as again:
        assert again.took_over is None


def test_a_writer_whose_latest_moved_is_refused_before_it_saves(tmp_path):
    # The history: A and B both start from v2; A publishes v3; B must not publish v4 "from v3".
    first = CheckpointStore(tmp_path)
    first.publish(save_text("v1"), {})
    first.publish(save_text("v2"), {})
    a, b = CheckpointStore(tmp_path), CheckpointStore(tmp_path)
    assert a.publish(save_text("A"), {}).meta()["parent"] == "v000002"
    saved = []
    with pytest.raises(LatestMovedError, match="LATEST is v000003, not v000002") as error:
        b.publish(saved.append, {})
    assert saved == [] and "\n" not in str(error.value)
    assert [r.name for r in a.versions()] == ["v000001", "v000002", "v000003"] and a.latest().name == "v000003"
    assert a.publish(save_text("A again"), {}).meta()["parent"] == "v000003"  # the writer that moved it goes on


def test_a_writer_whose_latest_moves_during_its_save_publishes_nothing(tmp_path):
    CheckpointStore(tmp_path).publish(save_text("v1"), {})
    slow, fast = CheckpointStore(tmp_path), CheckpointStore(tmp_path)

    def save_while_another_publishes(folder):
        (folder / "weights.txt").write_text("slow")
        fast.publish(save_text("fast"), {})

    with pytest.raises(LatestMovedError):
        slow.publish(save_while_another_publishes, {})
    assert [r.name for r in slow.versions()] == ["v000001", "v000002"]
    assert (slow.latest().path / "weights.txt").read_text() == "fast"
    assert not list((tmp_path / "versions").glob(".*"))  # the refused save's temp folder is gone


def test_a_fresh_root_expects_no_latest(tmp_path):
    store = CheckpointStore(tmp_path / "new")
    assert store.expected_latest is None
    other = CheckpointStore(tmp_path / "new")
    other.publish(save_text("x"), {})
    with pytest.raises(LatestMovedError, match="not empty"):
        store.publish(save_text("y"), {})


def test_claiming_restarts_the_view_of_latest(tmp_path):
    store = CheckpointStore(tmp_path)
    CheckpointStore(tmp_path).publish(save_text("before the claim"), {})
    with store.claim():
        assert store.expected_latest == "v000001"  # what the claimant now reads and trains from
        assert store.publish(save_text("mine"), {}).meta()["parent"] == "v000001"
