"""Image tokens and the parameters behind them, found the same way on every architecture."""
from __future__ import annotations

import numpy as np
import pytest

from tiny_models import build_tiny
from vlm_agent.agent.image_tokens import image_path_parameters, image_tokens
from vlm_agent.runtime.checkpoints import load_policy


@pytest.mark.parametrize("arch", ["idefics3", "llava", "paligemma"])
def test_image_path_is_the_vision_tower_and_connector(arch, tmp_path):
    policy = load_policy(build_tiny(arch, tmp_path / "model"))
    frames = [np.zeros((300, 300, 3), np.uint8), np.full((300, 300, 3), 200, np.uint8)]
    tokens = image_tokens(policy, frames)
    assert tokens.shape[0] == 2 and not np.allclose(tokens[0].detach().numpy(), tokens[1].detach().numpy())
    found = {id(p) for p in image_path_parameters(policy, frames[0])}
    names = [name for name, p in policy.model.named_parameters() if id(p) in found]
    assert names and all("vision" in n or "connector" in n or "projector" in n for n in names)
    assert policy.model.get_input_embeddings().weight is not None and id(policy.model.get_input_embeddings().weight) not in found
    assert all(p.grad is None for p in policy.model.parameters())  # the probe leaves no gradients behind
