"""Load any local image-text-to-text model folder, with one clear error when it is not one."""
from __future__ import annotations

import json
from pathlib import Path


# Architectures whose SDPA path scores a sequence differently with and without the KV cache (PaliGemma's
# prefix mask: about 1e-3 in log-prob), which would make acting's log-probs disagree with training's.
EAGER_ATTENTION = {"paligemma"}


class ModelLoadError(ValueError):
    """The folder is missing, is not a vision-language model, or its weights are unreadable."""


def quiet_transformers() -> None:
    """No progress bars or advisory warnings from transformers on the user's console."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def attention_kwargs(model_type: str | None, attn_implementation: str = "auto") -> dict:
    """`from_pretrained`'s attention argument: the one asked for, else eager where SDPA would break the ratio-1 check."""
    if attn_implementation != "auto":
        return {"attn_implementation": attn_implementation}
    return {"attn_implementation": "eager"} if model_type in EAGER_ATTENTION else {}


def load_vlm(folder: Path, dtype=None, device=None, attn_implementation: str = "auto"):
    """(model, processor) from a `save_pretrained` folder; ModelLoadError with one line otherwise.

    `device` (a torch device; default the CPU) is where the weights are loaded, straight onto a GPU
    without a CPU copy; `dtype` defaults to fp32.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    quiet_transformers()
    folder = Path(folder)
    if not folder.exists():
        raise ModelLoadError(f"{folder}: no such model folder")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: not a model folder (no config.json)")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{folder / 'config.json'}: unreadable ({error})") from None
    try:
        attention = attention_kwargs(config.get("model_type"), attn_implementation)
        placed = {"device_map": {"": str(device)}} if device is not None and torch.device(device).type != "cpu" else {}
        model = AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype or torch.float32, **attention, **placed)
    except ValueError as error:
        if "Unrecognized configuration" in str(error) or "image-text-to-text" in str(error).lower():
            kind = config.get("model_type", "unknown")
            raise ModelLoadError(f"{folder}: a {kind!r} model is not a vision-language (image-text-to-text) model") from None
        raise ModelLoadError(f"{folder}: cannot load the model ({_first_line(error)})") from None
    except Exception as error:  # safetensors, OSError, torch: corrupt or truncated weights
        raise ModelLoadError(f"{folder}: cannot load the weights ({_first_line(error)})") from None
    try:
        processor = AutoProcessor.from_pretrained(folder)
    except Exception as error:
        raise ModelLoadError(f"{folder}: cannot load the processor ({_processor_failure(config, error)})") from None
    if not hasattr(processor, "image_processor") or not hasattr(processor, "tokenizer"):
        raise ModelLoadError(f"{folder}: the processor has no image processor and tokenizer")
    model.eval()
    return model, processor


# Processors that build a video processor, which in transformers 5 requires torchvision; without it
# they fail deep inside transformers with an unrelated-looking AttributeError (VIDEO_PROCESSOR_MAPPING).
NEEDS_TORCHVISION = {"qwen2_vl", "qwen2_5_vl", "qwen3_vl"}


def _processor_failure(config: dict, error: Exception) -> str:
    kind = config.get("model_type")
    if kind in NEEDS_TORCHVISION and not _torchvision_imports():
        return f"the {kind} processor's video processor needs torchvision, which is missing or does not import beside this torch"
    return _first_line(error)


def _torchvision_imports() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # not installed, or a wheel built for another torch (fails at import)
        return False
    return True


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
