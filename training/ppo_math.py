"""The RL math of PPO for VLM agents, in one place (after CleanRL's ppo.py).

Symbols follow the papers: gamma (discount), lam (GAE lambda), A (advantage), R (return),
thought_coef (RL4VLM's lambda: the weight of the chain-of-thought tokens in a step's log-prob).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, gamma: float = 0.9, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns for one episode's steps in order.

    `dones[t]` is 1 when step t ended the episode. A truncated episode is treated as ended (no
    bootstrap): the value of the state after the last step was never computed, and with gamma 0.9
    the bias is small. Returns (advantages, returns) with returns = advantages + values.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last_gae = 0.0
    for t in reversed(range(steps)):
        next_value = values[t + 1] if t + 1 < steps else 0.0
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        last_gae = delta + gamma * lam * not_done * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


def step_logprob(
    token_logprobs: torch.Tensor, cot_mask: torch.Tensor, action_mask: torch.Tensor, thought_coef: float | torch.Tensor
) -> torch.Tensor:
    """log pi(step) = thought_coef * sum log p(CoT tokens) + sum log p(action tokens), per row."""
    cot = (token_logprobs * cot_mask).sum(-1)
    action = (token_logprobs * action_mask).sum(-1)
    return thought_coef * cot + action


def normalize(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    if advantages.numel() < 2:
        return advantages - advantages.mean()
    return (advantages - advantages.mean()) / (advantages.std() + eps)


@dataclass
class PPOLosses:
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor
    ratio: torch.Tensor
    unclipped_policy_loss: torch.Tensor


def ppo_losses(
    new_logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    clip_coef: float = 0.1,
    value_clip_coef: float | None = 0.1,
) -> PPOLosses:
    """Clipped surrogate and clipped value loss of one minibatch, with the usual diagnostics."""
    log_ratio = new_logprob - old_logprob
    ratio = log_ratio.exp()
    pg_unclipped = -advantages * ratio
    pg_clipped = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    policy_loss = torch.max(pg_unclipped, pg_clipped).mean()
    if value_clip_coef is None:
        value_loss = 0.5 * ((new_values - returns) ** 2).mean()
    else:
        clipped = old_values + torch.clamp(new_values - old_values, -value_clip_coef, value_clip_coef)
        value_loss = 0.5 * torch.max((new_values - returns) ** 2, (clipped - returns) ** 2).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()  # the low-variance estimator CleanRL logs
        clip_fraction = ((ratio - 1.0).abs() > clip_coef).float().mean()
    return PPOLosses(
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy=entropy.mean(),
        approx_kl=approx_kl,
        clip_fraction=clip_fraction,
        ratio=ratio,
        unclipped_policy_loss=pg_unclipped.mean(),
    )


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target): 1 is a perfect critic, <= 0 is useless."""
    var_target = target.var()
    if var_target == 0:
        return float("nan")
    return float(1 - (target - predicted).var() / var_target)
