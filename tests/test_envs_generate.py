"""`vlm-agent envs` still lists; `vlm-agent envs generate alfworld --out DIR` writes generated games into a
folder that play reads with --alfworld-data, generating once and linking from the cache after, whole or not
at all, and refuses bad input in one line before generating anything."""
import errno
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vlm_agent.envs.alfworld.generation.export as export
import vlm_agent.envs.alfworld.generation.generate as generate
from vlm_agent.cli.main import app
from vlm_agent.core.atomic import write_folder_atomic
from vlm_agent.envs import SHORT_NAMES
from vlm_agent.envs.alfworld.engine.games import data_origin, find_games

runner = CliRunner()
SPLITS = ("train", "valid_seen", "valid_unseen")


def vlm_agent(*args) -> "click.testing.Result":  # noqa: F821
    return runner.invoke(app, [str(arg) for arg in args])


def generate_into(out: Path, seed: int = 0, per_split: int = 1):
    return vlm_agent("envs", "generate", "alfworld", "--seed", seed, "--games-per-split", per_split, "--out", out)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.fixture(scope="module")
def real(cache, tmp_path_factory):
    """One real game a split (seed 0), generated through the command: a few seconds."""
    out = tmp_path_factory.mktemp("real") / "games"
    result = generate_into(out)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture
def fake_generator(monkeypatch, cache):
    """Instant stand-in games (not playable): for the paths that only copy and check."""
    def fake_game(slot):
        traj = json.dumps({"task_type": slot.task_type, "pddl_params": {}}).encode()
        return generate.GeneratedGame(f"json_2.1.1/{slot.split}/{slot.task_type}-x-{slot.index}/trial", b"{}", traj, 1)

    monkeypatch.setattr(generate, "_generate_all", lambda slots: map(fake_game, slots))


@pytest.fixture
def no_generation(monkeypatch):
    monkeypatch.setattr(generate, "_generate_all", lambda slots: pytest.fail("generated games"))


def test_envs_alone_still_lists_every_environment():
    result = vlm_agent("envs")
    assert result.exit_code == 0, result.output
    for short, env_id in SHORT_NAMES.items():
        assert short in result.output and env_id in result.output


def test_the_folder_is_the_cached_set_and_says_its_counts(real, cache):
    out, said = real
    cached = cache / "alfworld-generated" / f"v{generate.GENERATOR_VERSION}" / "seed0-n1"
    assert files_under(out) == files_under(cached) and (out / generate.MANIFEST).exists()
    assert str(out) in said and "3 ALFWorld games of seed 0 (train 1, valid_seen 1, valid_unseen 1)" in " ".join(said.split())
    assert data_origin(out) == "generated, seed 0"  # what eval's results call it
    assert not [p for p in out.parent.iterdir() if p != out], "a temp folder was left beside it"


def test_play_reads_the_folder_as_alfworld_data(real, tmp_path, monkeypatch):
    out, _ = real
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    for split in SPLITS:
        assert len(find_games(out, split)) == 1
    result = vlm_agent("play", "alfworld", "--agent", "expert-privileged", "--alfworld-data", out, "--split", "valid_unseen",
                       "--episodes", "1", "--headless", "--log-dir", tmp_path / "logs")
    assert result.exit_code == 0, result.output
    assert "100.0%" in result.output  # the generator kept only games this expert wins


def test_a_second_folder_of_the_same_games_comes_from_the_cache(real, tmp_path, no_generation):
    out, _ = real
    again = tmp_path / "again"
    result = generate_into(again)
    assert result.exit_code == 0, result.output
    assert files_under(again) == files_under(out)
    game = next(again.rglob("game.tw-pddl"))
    assert os.path.samefile(game, out / game.relative_to(again)), "not linked from the cache"


def test_across_disks_the_games_are_copied(fake_generator, tmp_path, monkeypatch):
    def no_links(source, destination):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(export.os, "link", no_links)
    result = generate_into(tmp_path / "games", seed=5, per_split=2)
    assert result.exit_code == 0, result.output
    cached = generate.generated_data_root(5, 2)
    assert files_under(tmp_path / "games") == files_under(cached)
    game = next((tmp_path / "games").rglob("game.tw-pddl"))
    assert not os.path.samefile(game, cached / game.relative_to(tmp_path / "games"))


@pytest.mark.parametrize("occupant, says", [
    ("games", "holds 3 ALFWorld games already"),
    ("file in it", "is not empty"),
    ("a file", "exists and is not a folder"),
])
def test_an_occupied_out_is_refused_before_generating_and_kept(real, tmp_path, no_generation, occupant, says):
    out = tmp_path / "out"
    if occupant == "games":
        assert generate_into(out).exit_code == 0  # from the cache
    elif occupant == "file in it":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        out.write_text("mine")
    before = files_under(out) if out.is_dir() else out.read_bytes()
    line = one_line_error(vlm_agent("envs", "generate", "alfworld", "--seed", "9", "--games-per-split", "1", "--out", out))
    assert str(out) in line and says in line
    assert (files_under(out) if out.is_dir() else out.read_bytes()) == before


def test_an_empty_out_folder_is_taken(fake_generator, tmp_path):
    (tmp_path / "games").mkdir()
    result = generate_into(tmp_path / "games", seed=6, per_split=2)
    assert result.exit_code == 0, result.output
    assert export.games_by_split(tmp_path / "games") == dict.fromkeys(SPLITS, 2)


@pytest.mark.parametrize("args, says", [
    (["alfworld", "--seed", "-1"], "--seed -1"),
    (["alfworld", "--games-per-split", "0"], "--games-per-split 0"),
    (["numberline"], "only alfworld has games to generate"),
    (["alfworld"], "missing --out"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, no_generation, args, says):
    with_out = args + (["--out", str(tmp_path / "out")] if args != ["alfworld"] else [])
    line = one_line_error(vlm_agent("envs", "generate", *with_out))
    assert says in line
    assert not (tmp_path / "out").exists()


def test_a_failed_copy_leaves_neither_the_folder_nor_a_temp(fake_generator, tmp_path, monkeypatch):
    linked = []
    real_link = export._link_or_copy

    def disk_fills(source, destination):
        if len(linked) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        linked.append(destination)
        real_link(source, destination)

    generate.generated_data_root(8, 2)  # cached first: the copy is what fails
    monkeypatch.setattr(export, "_link_or_copy", disk_fills)
    out = tmp_path / "sub" / "games"
    line = one_line_error(generate_into(out, seed=8, per_split=2))
    assert line == f"error: cannot write {out}: No space left on device"
    assert len(linked) == 3 and list(out.parent.iterdir()) == []

    monkeypatch.setattr(export, "_link_or_copy", real_link)
    result = generate_into(out, seed=8, per_split=2)  # the same command again, from the cache
    assert result.exit_code == 0, result.output
    assert export.games_by_split(out) == dict.fromkeys(SPLITS, 2)


def test_an_exclusive_folder_write_never_replaces_a_folder_that_filled_meanwhile(tmp_path):
    out = tmp_path / "out"

    def fill(temp):
        (temp / "new").write_text("new")
        out.mkdir()  # another writer got there first
        (out / "theirs").write_text("theirs")

    with pytest.raises(FileExistsError) as raised:
        write_folder_atomic(out, fill, exclusive=True)
    assert raised.value.filename == str(out)
    assert files_under(out) == {"theirs": b"theirs"} and list(tmp_path.iterdir()) == [out]
