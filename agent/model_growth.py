"""Deepen a trained model's text decoder without changing what it computes (LLaMA Pro's block expansion).

Wu et al. 2024 ("LLaMA Pro"): a new decoder block is a copy of the block before it with the two
projections that write into the residual stream (`self_attn.o_proj`, `mlp.down_proj`) zeroed. Such
a block adds zero to the residual, so the grown model's logits and last hidden state (what the
value head reads) are the original's. Training moves the zeroed projections from its first step:
their inputs, and so their gradients, are not zero. The copies are spread evenly: 4 -> 8 puts one
after each layer, 4 -> 6 one after layers 1 and 3.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import torch

# The projections of a decoder block that write into the residual stream (Llama, Qwen2, Gemma, Mistral names).
RESIDUAL_WRITERS = ("self_attn.o_proj", "mlp.down_proj")
# A grown folder's own files: the weights and config are the new model's; the training state (optimizer
# moments for the old shapes) and our records of how the source was made are not carried.
_NOT_CARRIED = ("model.safetensors", "model-", "pytorch_model", "trainer_state", "vlm_agent_")


def block_sources(before: int, after: int) -> list[int]:
    """For each layer of the grown decoder, the original layer it copies; a repeated index is a new (zeroed) block.

    Layer i is followed by `added * (i + 1) // before - added * i // before` copies of itself: the new blocks
    spread evenly, one closing each of LLaMA Pro's groups of `before / added` layers when that divides.
    """
    if after <= before:
        raise ValueError(f"cannot grow a {before}-layer text decoder to {after} layers: choose more layers than it has")
    added = after - before
    return [i for i in range(before) for _ in range(1 + added * (i + 1) // before - added * i // before)]


def decoder_layer_count(model) -> int:
    return model.config.get_text_config(decoder=True).num_hidden_layers


def grow_depth(model, layers: int):
    """A new model whose text decoder has `layers` layers and computes the same outputs as `model`'s.

    Built from the grown config, so each layer's `self_attn.layer_idx` (its KV-cache slot) and any
    per-layer setting follow the new numbering; the weights are the original's, each new block a copy of the
    layer before it with its residual writers (weights and biases) zeroed. `model` is left as it was.
    """
    text = model.config.get_text_config(decoder=True)
    sources = block_sources(text.num_hidden_layers, layers)
    prefix = _layers_prefix(model)
    old = model.state_dict()
    if missing := [w for w in RESIDUAL_WRITERS if f"{prefix}0.{w}.weight" not in old]:
        raise ValueError(f"a {text.model_type!r} decoder layer has no {', '.join(missing)}: block expansion needs Llama-style blocks")
    state = {key: value for key, value in old.items() if not key.startswith(prefix)}
    for new_index, source in enumerate(sources):
        is_copy = new_index > 0 and sources[new_index - 1] == source
        for key in (k for k in old if k.startswith(f"{prefix}{source}.")):
            name = key[len(f"{prefix}{source}."):]
            zeroed = is_copy and name.startswith(RESIDUAL_WRITERS)
            state[f"{prefix}{new_index}.{name}"] = torch.zeros_like(old[key]) if zeroed else old[key]
    config = copy.deepcopy(model.config)
    grown_text = config.get_text_config(decoder=True)
    grown_text.num_hidden_layers = layers
    if getattr(grown_text, "layer_types", None) is not None:  # sliding or full attention, per layer
        grown_text.layer_types = [text.layer_types[i] for i in sources]
    with torch.random.fork_rng():  # the fresh weights are all overwritten; don't move the caller's RNG
        grown = type(model)(config)
    grown.load_state_dict(state, strict=True)  # copies into the grown model's own tensors: no weight is shared
    grown.generation_config = copy.deepcopy(model.generation_config)
    return grown.to(model.dtype).eval()


def grow_model_folder(source: Path, out: Path, layers: int) -> int:
    """Write to `out` the model folder `source` with its text decoder grown to `layers` layers; returns the layers before.

    The tokenizer, processor, chat template, generation config and value head files are copied as they
    are: the grown model reads the same tokens and its last hidden state, which the value head reads, is unchanged.
    """
    from vlm_agent.agent.model_loading import load_vlm

    source, out = Path(source), Path(out)
    model, _ = load_vlm(source, dtype="auto")  # the source's dtype: a copy is exact in any dtype
    before = decoder_layer_count(model)
    grow_depth(model, layers).save_pretrained(out)
    for file in sorted(source.iterdir()):
        if file.is_file() and file.name != "config.json" and not file.name.startswith(_NOT_CARRIED):
            shutil.copy2(file, out / file.name)
    return before


def _layers_prefix(model) -> str:
    """The state-dict prefix of the text decoder's layers ("model.text_model.layers." in Idefics3)."""
    layers = model.get_decoder().layers
    return next(name for name, module in model.named_modules() if module is layers) + "."
