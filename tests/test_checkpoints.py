"""Checkpoint store: versions numbered in order, LATEST switched only after a complete save."""
import pytest

from vlm_agent.runtime.checkpoints import CheckpointStore, resolve_model_dir


def save_text(content):
    def save(folder):
        (folder / "weights.txt").write_text(content)
    return save


def test_publish_numbers_versions_and_moves_latest(tmp_path):
    store = CheckpointStore(tmp_path)
    assert store.latest() is None
    first = store.publish(save_text("a"), {"step": 1})
    second = store.publish(save_text("b"), {"step": 2})
    assert [r.name for r in store.versions()] == ["v000001", "v000002"]
    assert store.latest() == second
    assert second.meta()["parent"] == "v000001" and second.meta()["step"] == 2
    assert (first.path / "weights.txt").read_text() == "a"


def test_a_failed_save_leaves_latest_on_the_previous_version(tmp_path):
    store = CheckpointStore(tmp_path)
    store.publish(save_text("good"), {})

    def broken(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.publish(broken, {})
    assert store.latest().name == "v000001"
    assert [r.name for r in store.versions()] == ["v000001"]
    assert not list((tmp_path / "versions").glob(".*"))


def test_a_killed_publish_leaves_a_partial_folder_that_is_ignored_and_cleaned(tmp_path):
    store = CheckpointStore(tmp_path)
    store.publish(save_text("good"), {})
    partial = tmp_path / "versions" / ".v000002.999.partial"
    partial.mkdir()
    (partial / "weights.txt").write_text("half")
    assert store.latest().name == "v000001" and len(store.versions()) == 1
    assert store.clean_partial() == [partial] and not partial.exists()
    assert store.publish(save_text("next"), {}).name == "v000002"


def test_resolve_model_dir_follows_latest_or_takes_a_plain_folder(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    store.publish(save_text("a"), {})
    ref = store.publish(save_text("b"), {})
    assert resolve_model_dir(tmp_path / "ckpt") == (ref.path, "v000002")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert resolve_model_dir(plain) == (plain, "plain")
    with pytest.raises(FileNotFoundError, match="no such model"):
        resolve_model_dir(tmp_path / "absent")


def test_a_reader_following_latest_sees_the_old_version_until_the_new_one_is_complete(tmp_path):
    store = CheckpointStore(tmp_path)
    store.publish(save_text("old"), {})
    seen_mid_save = []

    def slow_save(folder):
        (folder / "weights.txt").write_text("new, half")
        seen_mid_save.append(resolve_model_dir(tmp_path))  # what `play --reload` would load right now

    store.publish(slow_save, {})
    assert seen_mid_save == [(tmp_path / "versions" / "v000001", "v000001")]
    assert resolve_model_dir(tmp_path) == (tmp_path / "versions" / "v000002", "v000002")
