"""The Qwen2-VL / Qwen2.5-VL family: the model path works here; its processor needs torchvision, which this CPU torch lacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_models import QWEN_ARCHITECTURES, build_tiny_qwen
from vlm_agent.agent.model_loading import ModelLoadError, _torchvision_imports, load_vlm
from vlm_agent.agent.policy import VLMPolicy, computes_own_positions, hidden_size
from vlm_agent.agent.value_head import ValueHead


@pytest.fixture(scope="module", params=QWEN_ARCHITECTURES)
def tiny(request, tmp_path_factory):
    return build_tiny_qwen(request.param, tmp_path_factory.mktemp(request.param))


def test_without_torchvision_loading_says_what_is_missing(tiny):
    folder, _ = tiny
    if _torchvision_imports():
        model, processor = load_vlm(folder)  # where torchvision works, AutoProcessor loads the real processor
        assert hasattr(processor, "video_processor")
        return
    with pytest.raises(ModelLoadError, match="video processor needs torchvision"):
        load_vlm(folder)


def test_rescoring_reproduces_acting_so_the_first_ratio_is_one(tiny):
    """Multimodal RoPE: evaluate must let the model build its 3-D positions, and extend mm_token_type_ids."""
    folder, processor = tiny
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    assert computes_own_positions(model)
    policy = VLMPolicy(model, processor, ValueHead(hidden_size(model)), temperature=1.0, max_new_tokens=6, seed=1)
    frames = [np.zeros((40, 48, 3), np.uint8), np.full((56, 40, 3), 200, np.uint8)]
    prompts = ["Target: 3. Current: 1.", "go"]
    rows = policy.generate(frames, prompts)
    with torch.no_grad():
        evaluation = policy.evaluate(frames, prompts, [ids for ids, _, _ in rows])
    for row, (ids, logprobs, value) in enumerate(rows):
        assert evaluation.token_logprobs[row, : len(ids)].tolist() == pytest.approx(logprobs, abs=1e-5)
        assert float(evaluation.values[row]) == pytest.approx(value, abs=1e-5)
