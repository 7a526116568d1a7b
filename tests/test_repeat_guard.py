"""Repeated states: with avoid_repeats a greedy agent never sends again an action already sent from the same state."""
import dataclasses
import json

import gymnasium as gym
import pytest
import torch

import vlm_agent.envs  # noqa: F401
from agents_for_tests import ShuttleAgent
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.observation import observation_from
from vlm_agent.runtime.records import RecordBus
from vlm_agent.runtime.repeat_guard import RepeatGuard
from vlm_agent.training.ppo_data import decoded_among

NUMBERLINE = "vlm_agent/NumberLine-v0"


def numberline_observations(*actions, seed=0):
    env = gym.make(NUMBERLINE)
    frame, info = env.reset(seed=seed)
    observations = [observation_from(NUMBERLINE, frame, info)]
    for action in actions:
        frame, *_, info = env.step(action)
        observations.append(observation_from(NUMBERLINE, frame, info))
    return observations


def test_a_state_seen_again_avoids_the_actions_sent_from_it_until_all_were_tried():
    start, down, back = numberline_observations("-", "+")  # 3, 2, 3 again
    guard = RepeatGuard()
    assert guard.guarded(start).avoid_actions == ()
    guard.record(start, "-")
    assert guard.guarded(down).avoid_actions == ()  # another state
    assert guard.guarded(back).avoid_actions == ("-",) and guard.guarded(back).decodable_actions() == ("+",)
    guard.record(back, "+")
    assert guard.guarded(start).avoid_actions == ()  # every legal action tried: free again
    guard.reset()
    guard.record(start, "-")
    other_frame = dataclasses.replace(back, frame=back.frame.copy())
    other_frame.frame[0, 0] = 255 - other_frame.frame[0, 0]
    assert guard.guarded(other_frame).avoid_actions == ()  # what the agent sees differs: not the same state
    by_another_path = dataclasses.replace(start, history=("> go to shelf 2", "You arrive at shelf 2."))
    assert guard.guarded(by_another_path).avoid_actions == ("-",)  # the recent steps are not the state


def run(agent, episodes=1):
    bus, records = RecordBus(), []
    bus.subscribe(records.append)
    loop = RolloutLoop(LoopConfig(env_id=NUMBERLINE, episodes=episodes, seed=0), agent, bus, run_id="test")
    loop.run()
    loop.close()
    return records


def test_the_loop_breaks_a_greedy_shuttle_and_logs_what_it_avoided():
    looping = run(ShuttleAgent(avoid_repeats=False))
    assert looping[-1].truncated and not looping[-1].success
    assert [r.action_sent for r in looping[:4]] == ["-", "+", "-", "+"]

    guarded = run(ShuttleAgent(avoid_repeats=True))
    assert guarded[-1].success and [r.action_sent for r in guarded] == ["-", "+", "+", "+"]  # 3 -> 2 -> 3 -> 4 -> 5
    assert guarded[2].info["avoided_actions"] == ["-"]
    assert all("avoided_actions" not in r.info for r in guarded[:2] + guarded[3:])
    assert all("avoided_actions" not in r.info for r in looping)

    from vlm_agent.tui.step_widgets import action_line  # the live view says why the action differs from the habit

    assert "kept from '-'" in action_line(guarded[2]).plain and "kept from" not in action_line(guarded[1]).plain


def test_each_episode_starts_with_no_state_remembered():
    records = run(ShuttleAgent(avoid_repeats=True), episodes=3)
    firsts = [r for r in records if r.step == 0]
    assert len(firsts) == 3 and all("avoided_actions" not in r.info for r in firsts)


@pytest.fixture(scope="module")
def default_policy():
    from vlm_agent.runtime.agent_factory import default_model_dir

    return load_policy(default_model_dir(), greedy=True, max_new_tokens=64, constrain_actions=True, avoid_repeats=True)


def test_the_policy_decodes_among_the_legal_actions_less_the_avoided_and_ppo_rescores_the_same(default_policy):
    observations = numberline_observations("-", "+", seed=1)
    chosen = [d.parse.action for d in default_policy.act(observations)]
    avoiding = [dataclasses.replace(obs, avoid_actions=(action,)) for obs, action in zip(observations, chosen)]
    decisions = default_policy.act(avoiding)
    for obs, action, decision in zip(avoiding, chosen, decisions):
        assert decision.parse.ok and decision.parse.action != action and decision.parse.action in obs.legal_actions

    class Row:  # what ppo_data reads of a logged step
        def __init__(self, obs):
            self.legal_actions, self.info = list(obs.legal_actions), {"avoided_actions": list(obs.avoid_actions)}

    among = [decoded_among(Row(obs)) for obs in avoiding]
    assert among == [[a for a in obs.legal_actions if a not in obs.avoid_actions] for obs in avoiding]
    scored = default_policy.evaluate([o.frame for o in avoiding], [d.prompt for d in decisions], [d.token_ids for d in decisions], among)
    for row, d in enumerate(decisions):
        assert torch.allclose(scored.token_logprobs[row, : len(d.token_ids)], torch.tensor(d.logprobs), atol=1e-4)


def test_avoiding_repeats_needs_constrained_actions():
    from vlm_agent.runtime.agent_factory import default_model_dir

    with pytest.raises(ValueError, match="constrained actions"):
        load_policy(default_model_dir(), constrain_actions=False, avoid_repeats=True)
