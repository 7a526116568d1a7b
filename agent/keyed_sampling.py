"""Sampling whose random numbers belong to the decision, not to the batch or the run.

Each row's token at answer position t is drawn by the Gumbel-max trick: argmax(logits / T + G),
with G standard Gumbel noise from a generator seeded by (policy seed, the row's sample key, t).
That is an exact sample of softmax(logits / T) (after top-p), and a key gets the same noise in any
batch layout, run length or policy. Two policies played on the same eval seeds then draw on common
random numbers: an episode's outcome differs between them where the policies differ, not where
one global generator's luck did, so a per-seed paired test has power. Rows with an empty key
draw from torch's global generator.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from transformers import LogitsProcessor, TopPLogitsWarper


def key_seed(seed: int, key: Sequence[int], position: int) -> int:
    """A 63-bit generator seed for one draw (hashed, so nearby keys give unrelated streams)."""
    text = ",".join(str(int(v)) for v in (seed, *key, position))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def gumbel_noise(width: int, generator: torch.Generator | None) -> torch.Tensor:
    uniform = torch.rand(width, generator=generator, dtype=torch.float64)
    return -torch.log(-torch.log(uniform))  # uniform 0 gives -inf: that token is never drawn


class KeyedGumbelSampler(LogitsProcessor):
    """The last logits processor of a greedy `generate`: turns its argmax into keyed sampling."""

    def __init__(self, keys: Sequence[Sequence[int]], seed: int, prompt_len: int, temperature: float, top_p: float = 1.0):
        if temperature <= 0:
            raise ValueError(f"sampling needs a temperature above 0, got {temperature}")
        self.keys = list(keys)
        self.seed = seed
        self.prompt_len = prompt_len
        self.temperature = temperature
        self.top_p = TopPLogitsWarper(top_p) if top_p < 1.0 else None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores / self.temperature
        if self.top_p is not None:
            scores = self.top_p(input_ids, scores)
        position = input_ids.shape[1] - self.prompt_len
        noise = torch.stack([
            gumbel_noise(scores.shape[1], None if not key else torch.Generator().manual_seed(key_seed(self.seed, key, position)))
            for key in self.keys
        ])
        return (scores.double() + noise).to(scores.dtype)
