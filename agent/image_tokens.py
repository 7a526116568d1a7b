"""The image tokens a VLM's language model sees, and the parameters that produce them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from vlm_agent.agent.vlm_inputs import prompt_inputs

if TYPE_CHECKING:
    from vlm_agent.agent.policy import VLMPolicy


def image_tokens(policy: VLMPolicy, frames: Sequence) -> torch.Tensor:
    """The image tokens the language model would see, one row per frame: (batch, tokens * hidden)."""
    inputs = policy.placed(prompt_inputs(policy.processor, frames, [""] * len(frames)))
    extras = {k: inputs[k] for k in ("pixel_attention_mask", "image_sizes") if k in inputs}
    features = policy.model.get_image_features(pixel_values=inputs["pixel_values"], **extras)
    if hasattr(features, "pooler_output"):  # newer transformers return a model output
        features = features.pooler_output
    if isinstance(features, (list, tuple)):
        features = torch.stack(list(features))
    return features.reshape(len(frames), -1)


def image_path_parameters(policy: VLMPolicy, frame: np.ndarray) -> list[torch.nn.Parameter]:
    """Parameters between pixels and image tokens (vision tower, connector), found by a backward
    pass rather than by name, so it holds for any architecture."""
    for p in policy.model.parameters():
        p.grad = None
    image_tokens(policy, [frame]).sum().backward()
    found = [p for p in policy.model.parameters() if p.grad is not None]
    for p in found:
        p.grad = None
    return found
