"""Thread counts for torch, chosen on purpose: why each number, in configure_torch_threads."""
from __future__ import annotations

import os

THREADS_ENV = "VLM_AGENT_THREADS"


def configure_torch_threads() -> int:
    """Give generation every core unless $VLM_AGENT_THREADS says otherwise; return the count.

    The rollout loop is synchronous (environments step, then the model generates), so the model
    never competes with our own environments for the cores; OMP_WAIT_POLICY=PASSIVE (set in
    vlm_agent.agent before torch loads) keeps idle OpenMP threads from spinning while environments
    or other processes run. Users who run several rollout processes set $VLM_AGENT_THREADS=1.
    """
    import torch

    wanted = os.environ.get(THREADS_ENV)
    threads = int(wanted) if wanted else max(1, len(os.sched_getaffinity(0)))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
