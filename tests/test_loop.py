"""The rollout loop: batching, episode accounting, seeding, invalid answers and fallbacks."""
import pytest

from agents_for_tests import FixedTextAgent
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.scripted import RandomAgent
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.records import RecordBus

NUMBERLINE = "vlm_agent/NumberLine-v0"


def run_loop(agent, **config):
    bus = RecordBus()
    records = []
    bus.subscribe(records.append)
    loop = RolloutLoop(LoopConfig(env_id=NUMBERLINE, **config), agent, bus, run_id="test")
    loop.run()
    loop.close()
    return loop, records


def test_finishes_exactly_the_requested_episodes_across_envs():
    loop, records = run_loop(ExpertAgent(seed=0), episodes=7, num_envs=3)
    finished = [r for r in records if r.done]
    assert len(finished) == 7 == loop.episodes_finished
    assert sorted({r.episode_id for r in records}) == [f"ep{k:06d}" for k in range(7)]
    assert {r.env_index for r in records} == {0, 1, 2}


def test_steps_of_an_episode_are_numbered_in_order_and_end_once():
    _, records = run_loop(RandomAgent(seed=1), episodes=4, num_envs=2)
    by_episode = {}
    for r in records:
        by_episode.setdefault(r.episode_id, []).append(r)
    for steps in by_episode.values():
        assert [r.step for r in steps] == list(range(len(steps)))
        assert [r.done for r in steps] == [False] * (len(steps) - 1) + [True]
        assert steps[-1].success is not None and all(r.success is None for r in steps[:-1])


def test_episode_k_is_seeded_with_seed_plus_k_whatever_the_env_count():
    _, one_env = run_loop(ExpertAgent(seed=0), episodes=5, num_envs=1, seed=100)
    _, three_envs = run_loop(ExpertAgent(seed=0), episodes=5, num_envs=3, seed=100)
    def first_texts(records):
        return {r.episode_id: (r.episode_seed, r.observation_text) for r in records if r.step == 0}
    assert first_texts(one_env) == first_texts(three_envs)
    assert {seed for seed, _ in first_texts(one_env).values()} == set(range(100, 105))


def test_repeats_play_each_start_several_times_in_a_row():
    _, records = run_loop(ExpertAgent(seed=0), episodes=5, num_envs=2, seed=100, repeats=2)
    first = {r.episode_id: (r.episode_seed, r.observation_text) for r in records if r.step == 0}
    assert [first[f"ep{k:06d}"][0] for k in range(5)] == [100, 100, 101, 101, 102]
    assert first["ep000000"][1] == first["ep000001"][1] != first["ep000002"][1]  # the same start, then the next one
    assert LoopConfig(env_id=NUMBERLINE, episodes=5, repeats=2).starts == 3
    with pytest.raises(ValueError, match="repeats"):
        LoopConfig(env_id=NUMBERLINE, repeats=0)


class KeyRecorder(ExpertAgent):
    """The expert, noting the sample key of each observation it answers."""

    def __init__(self):
        super().__init__(seed=0)
        self.keys = []

    def act(self, observations):
        self.keys.extend(obs.sample_key for obs in observations)
        return super().act(observations)


def test_each_decision_is_keyed_by_episode_seed_repeat_and_step():
    agent = KeyRecorder()
    _, records = run_loop(agent, episodes=5, num_envs=2, seed=100, repeats=2)
    repeat_of = {f"ep{k:06d}": k % 2 for k in range(5)}
    assert sorted(agent.keys) == sorted((r.episode_seed, repeat_of[r.episode_id], r.step) for r in records)
    assert len(set(agent.keys)) == len(records)  # two plays of one start draw different noise


def test_expert_steps_are_all_parsed_and_valid():
    _, records = run_loop(ExpertAgent(seed=0), episodes=5, num_envs=2)
    assert all(r.parse_status == "ok" and r.fallback == "" and not r.invalid for r in records)
    assert all(r.action_sent == r.parsed_action for r in records)


def test_garbage_answer_is_a_noop_with_the_penalty_and_is_marked_invalid():
    agent = FixedTextAgent("I refuse to answer in JSON.")
    loop, records = run_loop(agent, episodes=1)
    assert records, "the episode must still end (truncation counts no-op steps)"
    assert records[-1].truncated and not records[-1].terminated and records[-1].success is False
    for r in records:
        assert r.parse_status == "no_action_field" and r.invalid
        assert r.fallback == "noop" and r.action_sent == ""
        assert r.reward == -1.0
    # A no-op leaves the state as it was.
    assert len({r.observation_text for r in records}) == 1


def test_illegal_action_is_a_noop_that_sends_the_attempted_text():
    agent = FixedTextAgent('{"thoughts": "x", "action": "jump"}')
    _, records = run_loop(agent, episodes=1)
    for r in records:
        assert r.parse_status == "not_legal" and r.fallback == "noop" and r.action_sent == "jump"
        assert r.reward == -1.0
    assert len({r.observation_text for r in records}) == 1


def test_illegal_action_with_random_fallback_sends_a_legal_action_and_charges_the_penalty():
    agent = FixedTextAgent('{"thoughts": "x", "action": "jump"}')
    _, records = run_loop(agent, episodes=2, fallback="random", seed=3)
    for r in records:
        assert r.parse_status == "not_legal" and r.fallback == "random"
        assert r.action_sent in r.legal_actions
    # The env's own reward for a legal move is in {-1, 0, 1}; the runtime adds -1 on top.
    assert all(r.reward in (-2.0, -1.0, 0.0) for r in records)
    assert any(r.reward == -2.0 for r in records)


def test_unknown_fallback_is_rejected():
    with pytest.raises(ValueError, match="fallback"):
        LoopConfig(env_id=NUMBERLINE, fallback="guess")


def test_thought_coef_defaults_follow_the_paper():
    assert LoopConfig(env_id=NUMBERLINE).thought_coef == 0.5
    assert LoopConfig(env_id="vlm_agent/ALFWorld-v0").thought_coef == 0.2


def test_stop_starts_no_new_episode():
    bus = RecordBus()
    loop = RolloutLoop(LoopConfig(env_id=NUMBERLINE, episodes=50), ExpertAgent(seed=0), bus, run_id="t")
    loop.step()
    loop.stop()
    assert loop.finished and loop.step() == []
    loop.close()
