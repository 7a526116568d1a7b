"""PPO data: group-relative advantages and which logged versions belong to the lineage being trained."""
import json

import pytest

from vlm_agent.runtime.log_reader import Episode
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.ppo_data import Lineage, PPOSample, episode_start, group_relative_advantages


def sample(episode: str, group: tuple, episode_return: float) -> PPOSample:
    return PPOSample(frame_png=b"", prompt="", response_ids=[1], old_token_logprobs=[-1.0], cot_mask=[False], action_mask=[True],
                     thought_coef=0.5, old_value=0.0, advantage=0.0, ret=0.0, policy_version="v000001", reward=0.0,
                     episode=episode, group=group, episode_return=episode_return)


def test_group_relative_advantages_standardise_returns_within_a_start():
    same_start = ("NumberLine", 7)
    samples = [sample("a", same_start, 1.0), sample("a", same_start, 1.0), sample("b", same_start, -1.0),
               sample("c", ("NumberLine", 8), 5.0), sample("d", ("NumberLine", 9), 3.0)]
    group_relative_advantages(samples)
    a, b = samples[0].advantage, samples[2].advantage
    assert a == pytest.approx(-b) and a > 0  # two episodes of one start: one above, one below their mean
    assert samples[1].advantage == a  # every step of an episode shares its advantage
    # starts played once fall back to their environment's episodes: returns 1, -1, 5, 3
    assert samples[3].advantage > samples[4].advantage > 0


def test_lineage_numbers_versions_only_for_runs_that_played_this_root(tmp_path):
    root = tmp_path / "ckpt"
    root.mkdir()
    ours, theirs = tmp_path / "logs" / "ours", tmp_path / "logs" / "theirs"
    for run, model in ((ours, root), (theirs, tmp_path / "sft")):
        (run / "episodes").mkdir(parents=True)
        (run / "manifest.json").write_text(json.dumps({"model": str(model)}))
    lineage = Lineage(root)
    assert lineage(Episode(ours / "episodes" / "ep000000.parquet", None), "v000004") == 4
    assert lineage(Episode(theirs / "episodes" / "ep000000.parquet", None), "v000004") == 0  # another root's v000004
    assert lineage(Episode(ours / "episodes" / "ep000000.parquet", None), "base") == 0


def test_lineage_counts_runs_of_the_start_model_as_the_start_version(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    sft = tmp_path / "sft" / "versions" / "v000002"
    store.publish(lambda folder: None, {"kind": "start", "source": str(sft), "source_version": "v000002"})
    store.publish(lambda folder: None, {"kind": "ppo"})
    start_run, other_run = tmp_path / "logs" / "start", tmp_path / "logs" / "other"
    for run, model in ((start_run, sft), (other_run, tmp_path / "elsewhere")):
        (run / "episodes").mkdir(parents=True)
        (run / "manifest.json").write_text(json.dumps({"model": str(model)}))
    lineage = Lineage(store.root)
    assert lineage(Episode(start_run / "episodes" / "ep000000.parquet", None), "v000002") == 1  # the root's v000001 is that model
    assert lineage(Episode(start_run / "episodes" / "ep000000.parquet", None), "v000003") == 0  # a later version of that source
    assert lineage(Episode(other_run / "episodes" / "ep000000.parquet", None), "v000002") == 0


def test_an_episode_starts_from_the_game_its_env_names_else_from_its_seed():
    alfworld = {"env_id": "vlm_agent/ALFWorld-v0", "episode_seed": 1000, "info": json.dumps({"game_file": "/g/trial_7/game.tw-pddl"})}
    same_game = {**alfworld, "episode_seed": 1020}  # 20 games: seed 1020 plays the game of seed 1000
    assert episode_start(alfworld) == episode_start(same_game) == ("vlm_agent/ALFWorld-v0", "/g/trial_7/game.tw-pddl")
    assert episode_start({"env_id": "vlm_agent/NumberLine-v0", "episode_seed": 7, "info": "{}"}) == ("vlm_agent/NumberLine-v0", 7)
