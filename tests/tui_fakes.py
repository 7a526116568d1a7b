"""Agents and helpers for the terminal UI tests: a streaming fake VLM and a deliberately slow agent."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.interface import Decision
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession
from vlm_agent.tui.answer_text import thoughts_span

NUMBERLINE = "vlm_agent/NumberLine-v0"


def numberline_session(agent, log_dir: Path, episodes: int = 3, num_envs: int = 1, manifest_extra: dict | None = None) -> PlaySession:
    config = LoopConfig(NUMBERLINE, episodes=episodes, num_envs=num_envs, seed=0)
    return PlaySession(config, agent, log_dir, "numberline", manifest_extra)


def char_tokens(decision: Decision, value: float) -> Decision:
    """The decision as a VLM would return it, one token per character (token id = code point)."""
    text = decision.text
    cot_span = thoughts_span(text) or (0, 0)
    action_span = decision.parse.span or (0, 0)
    cot = [cot_span[0] <= i < cot_span[1] for i in range(len(text))]
    action = [action_span[0] <= i < action_span[1] for i in range(len(text))]
    # Digits are "uncertain" so the replay has improbable tokens to shade.
    logprobs = [-1.5 if ch.isdigit() else -0.01 for ch in text]
    decision.token_ids, decision.logprobs = [ord(ch) for ch in text], logprobs
    decision.cot_mask, decision.action_mask, decision.value = cot, action, value
    return decision


def char_decoder(ids) -> list[str]:
    return [chr(i) for i in ids]


class StreamingFakeVLM(ExpertAgent):
    """The expert's answers, streamed a character at a time through `stream_callback`, with token data."""

    kind = "vlm"
    policy_version = "fake-v1"

    def __init__(self, token_seconds: float = 0.0):
        super().__init__(prompt_variant="cot", seed=0)
        self.stream_callback = None
        self.token_seconds = token_seconds
        self.streamed: list[list[str]] = []

    def act(self, observations):
        decisions = super().act(observations)
        texts = [d.text for d in decisions]
        for n in range(1, max(map(len, texts)) + 1):
            if self.stream_callback is not None:
                partials = [text[:n] for text in texts]
                self.streamed.append(partials)
                self.stream_callback(partials)
            time.sleep(self.token_seconds)
        return [char_tokens(d, value=0.5) for d in decisions]


class SlowAgent(ExpertAgent):
    """The expert, but each call takes `seconds` (sleeping, as a model generating off the GIL would)."""

    def __init__(self, seconds: float):
        super().__init__(prompt_variant="cot", seed=0)
        self.seconds = seconds
        self.inside = threading.Event()  # set while act() runs
        self.release = threading.Event()  # set by a test to end the sleep early

    def act(self, observations):
        self.inside.set()
        self.release.wait(self.seconds)
        self.inside.clear()
        return super().act(observations)


async def wait_until(pilot, condition, timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.02)


async def wait_in_thread(event: threading.Event, timeout: float = 10.0) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)
