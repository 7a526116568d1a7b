"""LoRA (peft) on the language model's linear layers of a VLMPolicy, and saving it for `play` and resume.

A published LoRA checkpoint holds the merged model (plain transformers loads it, `play` needs no
peft) and the adapter in `lora_adapter/`, which resume puts back on the root's start version.
"""
from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from vlm_agent.agent.policy import VLMPolicy

ADAPTER_DIR = "lora_adapter"


def language_model_linear_names(model: nn.Module) -> list[str]:
    """Full names of the nn.Linear layers inside the language model (not the vision tower, not lm_head)."""
    decoder = model.get_decoder()
    inside = {id(module) for module in decoder.modules() if isinstance(module, nn.Linear)}
    return [name for name, module in model.named_modules() if id(module) in inside]


def add_lora(policy: VLMPolicy, r: int, alpha: int | None = None) -> None:
    """Wrap `policy.model` with fresh LoRA adapters (rank r, alpha default 2r); only they train."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=0.0, target_modules=language_model_linear_names(policy.model))
    policy.model = get_peft_model(policy.model, config)


def load_lora(policy: VLMPolicy, base_model: nn.Module, adapter_dir: Path) -> None:
    """Put the trainable adapter saved in `adapter_dir` on `base_model` and make it the policy's model."""
    from peft import PeftModel

    policy.model = PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=True)


def is_lora(policy: VLMPolicy) -> bool:
    return hasattr(policy.model, "merge_and_unload")


def save_policy(policy: VLMPolicy, folder: Path, state_dict: dict | None = None) -> None:
    """A folder `VLMPolicy.from_pretrained` loads; with LoRA, the merged weights plus the adapter.

    `state_dict`: the model's full weights when they are sharded (FSDP; never with LoRA).
    """
    if not is_lora(policy):
        policy.save_pretrained(folder, state_dict)
        return
    folder = Path(folder)
    merged = copy.deepcopy(policy.model).merge_and_unload()
    merged.save_pretrained(folder)
    policy.processor.save_pretrained(folder)
    policy.value_head.save(folder)
    policy.model.save_pretrained(folder / ADAPTER_DIR)
