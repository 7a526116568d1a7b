"""PPO data: group-relative advantages and which logged versions belong to the lineage being trained."""
import dataclasses
from types import SimpleNamespace

import pytest

from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.runtime.log_schema import StepRow
from vlm_agent.training.ppo_data import Lineage, PPOSample, build_ppo_samples, episode_start, group_relative_advantages


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


def test_lineage_numbers_versions_only_for_models_loaded_from_this_root(tmp_path):
    root = tmp_path / "ckpt"
    root.mkdir()
    lineage = Lineage(root)
    assert lineage(str(root), "v000004") == 4
    assert lineage(str(root / "versions" / "v000003"), "v000004") == 4  # a version folder inside the root (the trainer's own play)
    assert lineage(str(tmp_path / "sft"), "v000004") == 0  # another root's v000004
    assert lineage(str(root), "base") == 0
    assert lineage("", "v000004") == 0  # no model root known


def test_lineage_counts_steps_of_the_start_model_as_the_start_version(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    sft = tmp_path / "sft" / "versions" / "v000002"
    store.publish(lambda folder: None, {"kind": "start", "source": str(sft), "source_version": "v000002"})
    store.publish(lambda folder: None, {"kind": "ppo"})
    lineage = Lineage(store.root)
    assert lineage(str(sft), "v000002") == 1  # the root's v000001 is that model
    assert lineage(str(sft), "v000003") == 0  # a later version of that source
    assert lineage(str(tmp_path / "elsewhere"), "v000002") == 0


def test_an_episode_starts_from_the_game_its_env_names_else_from_its_seed():
    alfworld = step_row(env_id="vlm_agent/ALFWorld-v0", episode_seed=1000, info={"game_file": "/g/trial_7/game.tw-pddl"})
    same_game = dataclasses.replace(alfworld, episode_seed=1020)  # 20 games: seed 1020 plays the game of seed 1000
    assert episode_start(alfworld) == episode_start(same_game) == ("vlm_agent/ALFWorld-v0", "/g/trial_7/game.tw-pddl")
    assert episode_start(step_row(env_id="vlm_agent/NumberLine-v0", episode_seed=7)) == ("vlm_agent/NumberLine-v0", 7)


def step_row(**columns) -> StepRow:
    """A logged step with every column at a neutral value but those given."""
    neutral = {"str": "", "int": 0, "float": 0.0, "bool": False, "bytes": b"", "dict": {}, "list[str]": []}
    values = {f.name: neutral.get(f.type) for f in dataclasses.fields(StepRow)}  # optional columns (X | None) stay None
    return StepRow(**{**values, **columns})


def won_episode(name: str, steps: int) -> SimpleNamespace:
    """An ALFWorld episode of game 7 won at its last step (reward 10), `steps` steps long."""
    rows = [step_row(env_id="vlm_agent/ALFWorld-v0", episode_seed=1000, info={"game_file": "/g/trial_7/game.tw-pddl"},
                     run_id="run", episode_id=name, response_token_ids=[1], logprobs=[-1.0], cot_mask=[False], action_mask=[True],
                     thought_coef=0.2, policy_version="v000001", reward=10.0 if t == steps - 1 else 0.0,
                     terminated=t == steps - 1, success=t == steps - 1)
            for t in range(steps)]
    return SimpleNamespace(rows=rows)


def test_a_step_cost_makes_the_shorter_of_two_wins_the_better_one_and_leaves_the_reported_returns():
    episodes = [won_episode("direct", 2), won_episode("looped", 6)]
    free, _ = build_ppo_samples(episodes)
    group_relative_advantages(free)
    assert {s.advantage for s in free} == {0.0}  # the same return: no signal between a direct win and a looped one
    costly, report = build_ppo_samples(episodes, step_cost=0.5)
    group_relative_advantages(costly)
    direct, looped = costly[0].advantage, costly[-1].advantage
    assert direct > 0 > looped and costly[0].episode_return == pytest.approx(10 - 2 * 0.5)
    assert report.returns == [10.0, 10.0]  # what the environment paid, as logged
    gae, _ = build_ppo_samples(episodes, gamma=1.0, lam=1.0, step_cost=0.5)
    assert gae[0].ret == pytest.approx(9.0) and gae[2].ret == pytest.approx(7.0)  # the critic's targets pay the cost too
