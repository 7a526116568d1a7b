"""The human agent's hand-off between the UI thread and the runtime's thread."""
import threading

import numpy as np
import pytest

from vlm_agent.agent.human import HumanAgent, HumanCancelled
from vlm_agent.agent.interface import Observation


def observation(legal=("+", "-")):
    return Observation("vlm_agent/NumberLine-v0", np.zeros((4, 4, 3), np.uint8), "", legal, "numberline", "")


def act_in_thread(agent, observations):
    result = {}

    def target():
        try:
            result["decisions"] = agent.act(observations)
        except HumanCancelled:
            result["cancelled"] = True

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_act_waits_for_an_action_per_row_and_answers_in_the_scripted_json_format():
    agent = HumanAgent(prompt_variant="cot")
    thread, result = act_in_thread(agent, [observation(), observation()])
    agent.submit(1, "-")
    thread.join(0.2)
    assert thread.is_alive(), "act() waits until every row has an action"
    assert agent.waiting_rows() == [0]
    agent.submit(0, "+")
    thread.join(5)
    first, second = result["decisions"]
    assert (first.text, second.text) == ('{"action": "+"}', '{"action": "-"}')
    assert first.parse.ok and first.parse.action == "+" and first.logprobs is None and first.value is None
    assert "Number Line" in first.prompt
    assert (agent.kind, agent.policy_version, agent.sampling) == ("human", "", {})


def test_an_answer_given_before_act_starts_belongs_to_the_next_call():
    agent = HumanAgent()
    agent.submit(0, "+")
    with pytest.raises(ValueError):
        agent.submit(0, "-")
    (decision,) = agent.act([observation()])
    assert decision.parse.action == "+"


def test_cancel_releases_a_waiting_act_and_every_later_one():
    agent = HumanAgent()
    thread, result = act_in_thread(agent, [observation()])
    agent.cancel()
    thread.join(5)
    assert result == {"cancelled": True}
    with pytest.raises(HumanCancelled):
        agent.act([observation()])
