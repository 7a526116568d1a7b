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
QWEN_ARCHITECTURES = ("qwen2_vl", "qwen2_5_vl")  # their processor needs torchvision: see build_tiny_qwen
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


QWEN_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
QWEN_TEMPLATE = (
    "{% for message in messages %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endfor %}{% if add_generation_prompt %}\nANSWER:{% endif %}"
)


def qwen_image_only_processor(image_processor, tokenizer):
    """Qwen2-VL's processor without its video processor, which needs torchvision (not importable beside this torch).

    Images go through exactly Qwen2VLProcessor's code; only the construction skips the video part.
    For tests of the model path; `load_vlm` itself uses AutoProcessor, which fails without torchvision.
    """
    from transformers import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor, tokenizer, chat_template=None):
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)

    return ImageOnlyQwen2VLProcessor(image_processor, tokenizer, chat_template=QWEN_TEMPLATE)


def build_tiny_qwen(arch: str, out: Path, seed: int = 0):
    """Save a tiny random Qwen2-VL / Qwen2.5-VL model with its tokenizer and image processor; returns (out, processor).

    The folder's processor_config names the real processor (what AutoProcessor loads where
    torchvision works); the returned processor is the image-only one the tests use here.
    """
    import json

    from transformers import GenerationConfig, Qwen2VLImageProcessorPil

    tokenizer = train_tokenizer(CORPUS, 300)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_TOKENS)})
    tokenizer.chat_template = QWEN_TEMPLATE
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_TOKENS}
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, max_position_embeddings=512,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 4]},
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    special = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                   vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if arch == "qwen2_vl":
        from transformers import Qwen2VLConfig as Config, Qwen2VLForConditionalGeneration as Model

        vision = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=8, spatial_merge_size=2,
                      temporal_patch_size=2, in_channels=3)
    elif arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig as Config, Qwen2_5_VLForConditionalGeneration as Model

        vision = dict(depth=2, hidden_size=32, out_hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8,
                      spatial_merge_size=2, temporal_patch_size=2, in_channels=3, window_size=32, fullatt_block_indexes=[1])
    else:
        raise ValueError(arch)
    config = Config(text_config=text, vision_config=vision, **special)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Model(config)
    model.generation_config = GenerationConfig(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id)
    images = Qwen2VLImageProcessorPil(min_pixels=32 * 32, max_pixels=64 * 64, patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = qwen_image_only_processor(images, tokenizer)
    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    config_file = out / "processor_config.json"
    saved = json.loads(config_file.read_text()) if config_file.exists() else {}
    config_file.write_text(json.dumps({**saved, "processor_class": "Qwen2VLProcessor"}, indent=2))
    return out, processor


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
