"""Tiny random vision-language models of three architectures, built offline for tests."""
from __future__ import annotations

from pathlib import Path

import torch

from vlm_agent.agent.tokenizer_training import train_tokenizer

CORPUS = [
    'You are playing Number Line. Target: 3. Current: 1. Answer in JSON: {"thoughts": "add one", "action": "+"}',
    '{"thoughts": "Cards: K=10, 2. Plan: 10+2 = 12.", "action": "10"} stand hit go to cabinet 10 cabinet 1',
] * 20
ARCHITECTURES = ("idefics3", "llava", "paligemma")
PLAIN_TEMPLATE = (  # a different chat format than the default model's, to show nothing depends on it
    "{% for message in messages %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}\nANSWER:{% endif %}"
)


def _siglip(image_size: int = 32, patch: int = 8) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=image_size, patch_size=patch)


def _text(tokenizer, model_type: str) -> dict:
    return dict(
        model_type=model_type, vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )


def build_tiny(arch: str, out: Path, seed: int = 0) -> Path:
    """Save a tiny random `arch` model with its processor to `out`; returns `out`."""
    from transformers import GenerationConfig

    if arch == "idefics3":
        from vlm_agent.agent.model_init import ModelSize, build_model, build_processor

        size = ModelSize(text_hidden=32, text_layers=2, text_heads=2, text_kv_heads=1, text_intermediate=64,
                         vision_hidden=32, vision_layers=1, vision_heads=2, vision_intermediate=64,
                         image_size=64, patch_size=16, scale_factor=2, vocab_size=400)
        processor = build_processor(train_tokenizer(CORPUS, size.vocab_size), size)
        model = build_model(processor.tokenizer, size, seed)
    elif arch == "llava":
        from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, SiglipImageProcessorPil

        tokenizer = train_tokenizer(CORPUS, 300)
        tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
        tokenizer.chat_template = PLAIN_TEMPLATE
        images = SiglipImageProcessorPil(size={"height": 32, "width": 32})
        processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="full",
                                   num_additional_image_tokens=0, chat_template=PLAIN_TEMPLATE)
        config = LlavaConfig(vision_config=dict(model_type="siglip_vision_model", **_siglip()), text_config=_text(tokenizer, "llama"),
                             image_token_id=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="full",
                             vision_feature_layer=-1, projector_hidden_act="gelu")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = LlavaForConditionalGeneration(config)
    elif arch == "paligemma":
        from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor, SiglipImageProcessorPil

        tokenizer = train_tokenizer(CORPUS, 300)
        images = SiglipImageProcessorPil(size={"height": 32, "width": 32})
        images.image_seq_length = 16
        # PaliGemma's processor puts the image tokens in front itself, so its template writes text only.
        template = "{% for m in messages %}{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endfor %}"
        processor = PaliGemmaProcessor(image_processor=images, tokenizer=tokenizer, chat_template=template)
        tokenizer = processor.tokenizer
        config = PaliGemmaConfig(vision_config=dict(model_type="siglip_vision_model", **_siglip(), projection_dim=32),
                                 text_config=_text(tokenizer, "gemma"), image_token_id=processor.image_token_id, projection_dim=32)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = PaliGemmaForConditionalGeneration(config)
    else:
        raise ValueError(arch)
    tok = processor.tokenizer
    model.generation_config = GenerationConfig(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
