"""Turn (frame, prompt) pairs into model inputs, for generation and for re-scoring answers."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image


def chat_text(processor, prompt: str) -> str:
    """The prompt in the model's own chat format with one image, ready for the assistant's answer."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def prompt_inputs(processor, frames: Sequence[np.ndarray], prompts: Sequence[str]) -> dict:
    """Left-padded batch of prompts with their frames (the generated answer continues on the right)."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"
    images = [[Image.fromarray(np.asarray(frame, dtype=np.uint8))] for frame in frames]
    texts = [chat_text(processor, p) for p in prompts]
    encoded = processor(images=images, text=texts, return_tensors="pt", padding=True)
    for key in ("token_type_ids", "labels"):  # PaliGemma's training extras: the loss is computed here
        encoded.pop(key, None)
    return dict(encoded)


def with_responses(inputs: dict, responses: Sequence[Sequence[int]], pad_id: int) -> tuple[dict, torch.Tensor]:
    """Append right-padded response ids to left-padded prompts; returns (inputs, response mask).

    Position ids follow the attention mask, as generation computes them, so re-scored log-probs
    equal the ones generation reported.
    """
    width = max((len(r) for r in responses), default=0)
    ids = torch.full((len(responses), width), pad_id, dtype=inputs["input_ids"].dtype)
    mask = torch.zeros((len(responses), width), dtype=inputs["attention_mask"].dtype)
    for row, response in enumerate(responses):
        ids[row, : len(response)] = torch.as_tensor(list(response), dtype=ids.dtype)
        mask[row, : len(response)] = 1
    full = dict(inputs)
    full["input_ids"] = torch.cat([inputs["input_ids"], ids], dim=1)
    full["attention_mask"] = torch.cat([inputs["attention_mask"], mask], dim=1)
    for key, value in inputs.items():  # other per-token rows (Qwen2-VL's mm_token_type_ids): answer tokens are text, 0
        if key not in ("input_ids", "attention_mask") and torch.is_tensor(value) and value.shape == inputs["input_ids"].shape:
            full[key] = torch.cat([value, torch.zeros((len(responses), width), dtype=value.dtype)], dim=1)
    full["position_ids"] = (full["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    return full, mask.bool()
