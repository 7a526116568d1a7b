"""Fit a fresh value head to the logged returns before its first PPO update (`--value-warmup-epochs`).

Why: an untrained head predicts about 0 while returns are large (+10 on the card games, +50 for an
ALFWorld win), so the first updates' value loss is the largest term and its gradient reaches the
whole VLM through the last hidden state (EZPoints: value loss 31 at the first update). Fitting the
head alone, on the frozen model's features, first gives GAE a critic that means something and a
small value loss (EZPoints: 0.73). See docs/default-model.md for what it did and did not fix.
"""
from __future__ import annotations

import copy
import dataclasses

import pyarrow as pa
import torch

from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.log_reader import Episode
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.training.ppo_math import compute_gae, explained_variance


def discounted_returns(rewards: list[float], gamma: float) -> list[float]:
    """Monte-Carlo returns of one episode's steps: GAE's returns with lambda 1 and no critic."""
    r = torch.tensor(rewards, dtype=torch.float64)
    dones = torch.zeros_like(r)
    dones[-1:] = 1.0  # the episode's end counts as terminal, as in GAE
    return compute_gae(r, torch.zeros_like(r), dones, gamma, 1.0)[1].tolist()


@torch.no_grad()
def episode_features(policy: VLMPolicy, episodes: list[Episode], batch_size: int = 16) -> torch.Tensor:
    """What the value head reads for every step of `episodes`, in order: (steps, hidden)."""
    rows = [(decode_png(row.frame_png), row.prompt) for e in episodes for row in e.rows]
    chunks = [policy.prompt_features([f for f, _ in rows[i : i + batch_size]], [p for _, p in rows[i : i + batch_size]])
              for i in range(0, len(rows), batch_size)]
    return torch.cat(chunks).float()


def warm_up_value_head(policy: VLMPolicy, episodes: list[Episode], gamma: float, epochs: int,
                       lr: float = 1e-3, minibatch_size: int = 64, seed: int = 0) -> tuple[list[Episode], dict]:
    """Train only `policy.value_head` on the discounted returns of the policy's own episodes.

    Returns the episodes with their logged values replaced by out-of-fold predictions (so GAE and
    the clipped value loss start from a critic that means something) and the fit's diagnostics.
    Out of fold: a head fitted on a batch's own returns would predict them, leaving advantages of
    about 0; each half of the episodes is valued by a head fitted on the other half. The policy
    keeps a head fitted on all of them. Scripted episodes (no log-probs) are returned unchanged.
    """
    sampled = [e for e in episodes if all(row.logprobs is not None for row in e.rows)]
    if len(sampled) < 2 or epochs < 1:
        return episodes, {}
    features = episode_features(policy, sampled)
    targets = torch.tensor([r for e in sampled for r in discounted_returns([row.reward for row in e.rows], gamma)])
    fold = torch.tensor([k % 2 for k, e in enumerate(sampled) for _ in e.rows])  # whole episodes per fold
    before = policy.value_head(features).detach()
    values = torch.zeros_like(targets)
    for k in (0, 1):
        head = copy.deepcopy(policy.value_head)
        _fit(head, features[fold != k], targets[fold != k], epochs, lr, minibatch_size, seed)
        values[fold == k] = head(features[fold == k]).detach()
    _fit(policy.value_head, features, targets, epochs, lr, minibatch_size, seed)
    metrics = {
        "value_warmup_steps": len(targets),
        "value_warmup_loss_before": float(0.5 * (before - targets).pow(2).mean()),
        "value_warmup_loss_out_of_fold": float(0.5 * (values - targets).pow(2).mean()),
        "value_warmup_explained_variance": explained_variance(values, targets),
    }
    refit, offset = {}, 0
    for e in sampled:
        refit[id(e)] = with_values(e, values[offset : offset + len(e.rows)].tolist())
        offset += len(e.rows)
    return [refit.get(id(e), e) for e in episodes], metrics


def _fit(head: torch.nn.Module, features: torch.Tensor, targets: torch.Tensor, epochs: int, lr: float, minibatch_size: int, seed: int) -> None:
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    head.train(True)
    for _ in range(epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), minibatch_size):
            pick = order[start : start + minibatch_size]
            loss = 0.5 * (head(features[pick]) - targets[pick]).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    head.train(False)


def with_values(episode: Episode, values: list[float]) -> Episode:
    """The episode with its logged value column replaced (same name and type)."""
    table = episode.table
    column = table.schema.get_field_index("value")
    field = table.schema.field(column)
    return dataclasses.replace(episode, table=table.set_column(column, field, pa.array(values, type=field.type)))
