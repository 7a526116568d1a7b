"""One PPO update over a batch of logged steps, read top to bottom like CleanRL's ppo.py.

Symbols: A (advantages), R (returns), V (values), logp (the RL4VLM step log-prob
thought_coef * log p(CoT) + log p(action)); `_old` marks what the behaviour policy logged.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.ppo_data import PPOSample
from vlm_agent.training.ppo_math import explained_variance, normalize, ppo_losses, step_logprob
from vlm_agent.training import distributed
from vlm_agent.training.distributed import Ranks
from vlm_agent.training.run_scaffold import optimizer_step
from vlm_agent.training.sft import autocast, shared_answer_loss
from vlm_agent.training.sft_data import SFTExample


def padded(rows: Sequence[Sequence], width: int) -> torch.Tensor:
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(list(row), dtype=torch.float32)
    return out


def ppo_update(
    policy: VLMPolicy,
    samples: list[PPOSample],
    optimizer: torch.optim.Optimizer,
    config: PPOConfig,
    teacher: list[SFTExample] | None = None,
    stop: Callable[[], bool] = lambda: False,
    ranks: Ranks = Ranks(),
) -> dict:
    """PPO epochs over `samples` (plus a behaviour-cloning term on `teacher`); returns the diagnostics.

    `stop()` is checked after each optimizer step, so Ctrl-C ends the update cleanly. Under
    torchrun (`ranks`) every rank draws the same minibatches, scores its share of each and the
    gradients are averaged: the update, and the diagnostics, are those of one process.
    """
    device = policy.device
    generator = torch.Generator().manual_seed(config.seed)
    thought_coef = torch.tensor([config.thought_coef if config.thought_coef is not None else s.thought_coef for s in samples])
    b_logp_old = torch.stack([
        step_logprob(torch.tensor(s.old_token_logprobs), torch.tensor(s.cot_mask, dtype=torch.float32),
                     torch.tensor(s.action_mask, dtype=torch.float32), coef)
        for s, coef in zip(samples, thought_coef)
    ])
    b_A = torch.tensor([s.advantage for s in samples])
    b_R = torch.tensor([s.ret for s in samples])
    b_V = torch.tensor([s.old_value for s in samples])
    if config.norm_adv:
        b_A = normalize(b_A)  # over the whole batch: minibatches of a few steps are too small to normalise
    explained = explained_variance(b_V, b_R)
    thought_coef, b_logp_old, b_A, b_R, b_V = (t.to(device) for t in (thought_coef, b_logp_old, b_A, b_R, b_V))
    use_critic = config.advantage == "gae"
    batch_size = len(samples)
    logged = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
    history: dict[str, list[float]] = {k: [] for k in (*logged, "bc_loss", "grad_norm")}
    first: dict = {}
    optimizer_steps = 0
    stopped = False
    for epoch in range(config.update_epochs):
        b_inds = torch.randperm(batch_size, generator=generator)
        for start in range(0, batch_size, config.minibatch_size):
            mb_inds = b_inds[start : start + config.minibatch_size]
            my_inds = mb_inds[ranks.rank :: ranks.world_size]  # this rank's share: all of it in one process
            share = len(my_inds) / len(mb_inds)
            if not len(my_inds):  # no share: still run the forward pass (FSDP gathers weights in it), weighted 0
                my_inds = mb_inds[:1]
            mb = [samples[i] for i in my_inds.tolist()]
            with autocast(policy, config.precision):
                evaluation = policy.evaluate([s.frame for s in mb], [s.prompt for s in mb], [s.response_ids for s in mb],
                                             [s.legal_actions for s in mb], [s.max_new_tokens for s in mb])
            width = evaluation.token_logprobs.shape[1]
            cot_mask = padded([s.cot_mask for s in mb], width).to(device)
            action_mask = padded([s.action_mask for s in mb], width).to(device)
            newlogp = step_logprob(evaluation.token_logprobs, cot_mask, action_mask, thought_coef[my_inds])
            token_entropy = evaluation.entropy.sum(-1) / evaluation.response_mask.sum(-1).clamp(min=1)
            newvalue = evaluation.values.float()
            losses = ppo_losses(
                newlogp, b_logp_old[my_inds], b_A[my_inds], newvalue, b_V[my_inds], b_R[my_inds], token_entropy,
                clip_coef=config.clip_coef, value_clip_coef=config.clip_coef if config.clip_vloss else None,
            )
            loss = losses.policy_loss - config.ent_coef * losses.entropy
            if use_critic:
                loss = loss + config.vf_coef * losses.value_loss
            if ranks.distributed:  # the ranks' average of the scaled shares is the minibatch's mean
                loss = loss * (share * ranks.world_size)
            if teacher and config.bc_coef > 0:
                picks = torch.randint(len(teacher), (config.minibatch_size,), generator=generator).tolist()
                with autocast(policy, config.precision):
                    bc_loss = shared_answer_loss(policy, [teacher[i] for i in picks], ranks)
                loss = loss + config.bc_coef * bc_loss
                history["bc_loss"].append(distributed.sum_over_ranks(ranks, [bc_loss.item() / ranks.world_size], "bc loss")[0])

            grad_norm = optimizer_step(loss, optimizer, None, config.max_grad_norm, ranks)
            optimizer_steps += 1

            values = [getattr(losses, name).item() * share for name in logged]
            values = distributed.sum_over_ranks(ranks, values, "minibatch diagnostics") if ranks.distributed else values
            if not first:  # before any update the ratio must be 1: a check that re-scoring matches acting
                ratio_error = float((losses.ratio.detach() - 1).abs().max())
                unclipped = losses.unclipped_policy_loss.item() * share
                first = {"max_abs_ratio_minus_1": distributed.max_over_ranks(ranks, ratio_error, "ratio check"),
                         "policy_loss": values[0],
                         "unclipped_policy_loss": distributed.sum_over_ranks(ranks, [unclipped], "ratio check")[0]}
            for name, value in zip(logged, values):
                history[name].append(value)
            history["grad_norm"].append(float(grad_norm))
            if distributed.any_rank(ranks, stop()):
                stopped = True
                break
        if stopped:
            break
    metrics = {name: float(np.mean(values)) for name, values in history.items() if values}
    metrics.update(
        explained_variance=explained if use_critic else float("nan"),
        samples=batch_size, optimizer_steps=optimizer_steps, interrupted=stopped, first_minibatch=first,
        lr=optimizer.param_groups[0]["lr"],
    )
    return metrics
