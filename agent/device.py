"""Resolve a DeviceConfig on this machine: which torch device, which weight dtype, which attention kernel.

`auto` keeps the CPU path exactly as it always was (fp32, the model's default attention); on a GPU
it loads bf16 where the card has it. A trainer doing full fine-tuning keeps fp32 weights on the GPU
(AdamW steps of 1e-5 vanish in bf16's 8 bits of mantissa) and computes in bf16 autocast; LoRA
freezes the base, so its base weights load in bf16 and only the small adapters stay fp32.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from vlm_agent.agent.device_config import DeviceConfig

DTYPE_BY_NAME = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NAME_BY_DTYPE = {dtype: name for name, dtype in DTYPE_BY_NAME.items()}


@dataclass(frozen=True)
class Placement:
    """A resolved DeviceConfig: where the weights live and in what dtype."""

    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    attn_implementation: str = "auto"
    config: DeviceConfig = field(default_factory=DeviceConfig)

    @property
    def is_default_cpu(self) -> bool:
        """The path every model took before devices existed: nothing to move, nothing to cast."""
        return self.device.type == "cpu" and self.dtype == torch.float32

    def describe(self) -> str:
        return f"{self.device} {NAME_BY_DTYPE[self.dtype]}"


def resolve_device(name: str) -> torch.device:
    """`auto`/`cpu`/`cuda`/`cuda:N` as a torch device; under torchrun plain `cuda` is this rank's GPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {name}: this torch ({torch.__version__}) sees no CUDA device; use --device cpu")
    if name in ("auto", "cuda"):
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    index = int(name.split(":")[1])
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device, training: bool = False, lora: bool = False) -> torch.dtype:
    """The weights' dtype; see the module docstring for what `auto` chooses and why."""
    if name != "auto":
        if training and name == "fp16":
            raise ValueError("--dtype fp16 cannot train (it needs loss scaling, which vlm-agent does not do); use bf16 or fp32")
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"--dtype bf16: {torch.cuda.get_device_name(device)} has no bf16; use fp16 to act or fp32 to train")
        return DTYPE_BY_NAME[name]
    if device.type != "cuda" or not torch.cuda.is_bf16_supported():
        return torch.float32
    return torch.float32 if training and not lora else torch.bfloat16


def resolve(config: DeviceConfig | None = None, training: bool = False, lora: bool = False) -> Placement:
    """A DeviceConfig on this machine; ValueError (one line) when it asks for what is not here."""
    config = config or DeviceConfig()
    device = resolve_device(config.device)
    return Placement(device, resolve_dtype(config.dtype, device, training, lora), config.attn_implementation, config)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype of a training forward pass: bf16 when asked for, or on `auto` where the device has it (CUDA)."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return None


def enable_activation_checkpointing(model) -> None:
    """Recompute each layer's activations in the backward pass (non-reentrant: fine with a frozen base under LoRA)."""
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.25 names it so
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def is_activation_checkpointing(model) -> bool:
    return any(getattr(module, "gradient_checkpointing", False) is True for module in model.modules())
