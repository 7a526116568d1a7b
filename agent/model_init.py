"""Build the default agent model: an Idefics3-architecture VLM small enough to train on a CPU."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import torch

from vlm_agent.agent.tokenizer_training import CHAT_TEMPLATE, EOS, train_tokenizer
from vlm_agent.agent.value_head import ValueHead


@dataclass(frozen=True)
class ModelSize:
    """Sizes of the default model (about 7M parameters)."""

    text_hidden: int = 256
    text_layers: int = 4
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 768
    vision_hidden: int = 192
    vision_layers: int = 3
    vision_heads: int = 3
    vision_intermediate: int = 512
    image_size: int = 224
    patch_size: int = 16
    # 14x14 patches shuffled 7x7 into 4 image tokens, each a whole quadrant of the frame: the
    # language model looks among 4 tokens instead of 49, and prompts are 45 tokens shorter.
    scale_factor: int = 7
    vocab_size: int = 2048
    max_positions: int = 2048
    # The reference's 1024 -> 512 critic is sized for LLaVA's 4096-wide hidden state; on a 256-wide
    # one it would be 3 MB of the 30 MB the shipped model may weigh.
    value_hidden: tuple[int, ...] = (256, 256)

    @property
    def image_seq_len(self) -> int:
        return (self.image_size // self.patch_size) ** 2 // self.scale_factor**2


def build_processor(tokenizer, size: ModelSize):
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    # One 224x224 view of the 300x300 frame: no tiling into sub-images, which would multiply tokens.
    images = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": size.image_size},
        max_image_size={"longest_edge": size.image_size},
    )
    return Idefics3Processor(
        image_processor=images, tokenizer=tokenizer, image_seq_len=size.image_seq_len, chat_template=CHAT_TEMPLATE
    )


def build_model(tokenizer, size: ModelSize, seed: int):
    from transformers import GenerationConfig, Idefics3Config, Idefics3ForConditionalGeneration

    special = dict(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS),
    )
    config = Idefics3Config(
        vision_config=dict(
            hidden_size=size.vision_hidden,
            intermediate_size=size.vision_intermediate,
            num_hidden_layers=size.vision_layers,
            num_attention_heads=size.vision_heads,
            image_size=size.image_size,
            patch_size=size.patch_size,
        ),
        text_config=dict(
            model_type="llama",
            vocab_size=len(tokenizer),
            hidden_size=size.text_hidden,
            intermediate_size=size.text_intermediate,
            num_hidden_layers=size.text_layers,
            num_attention_heads=size.text_heads,
            num_key_value_heads=size.text_kv_heads,
            max_position_embeddings=size.max_positions,
            **special,
        ),
        scale_factor=size.scale_factor,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        **special,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Idefics3ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(**special, max_new_tokens=256)
    return model


def init_model(out: Path, corpus: Iterable[str], size: ModelSize = ModelSize(), seed: int = 0) -> Path:
    """Train the tokenizer on `corpus`, build model, processor and value head; save to `out`."""
    from vlm_agent.agent.model_loading import quiet_transformers
    from vlm_agent.agent.policy import hidden_size

    quiet_transformers()
    tokenizer = train_tokenizer(corpus, size.vocab_size)
    processor = build_processor(tokenizer, size)
    model = build_model(processor.tokenizer, size, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    head, _ = ValueHead.load_or_new(out / "__none__", hidden_size(model), seed=seed, hidden=size.value_hidden)
    head.save(out)
    (out / "vlm_agent_model.json").write_text(__import__("json").dumps({"size": asdict(size), "seed": seed}, indent=2) + "\n")
    return out
