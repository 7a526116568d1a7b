"""Vision pretraining: image tokens learn the captions; the language model is untouched; resume is exact."""
from __future__ import annotations

import os
import signal

import pytest
import torch

from log_splits import splitting_fraction
from tiny_models import build_tiny
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.sft_data import load_sft_data
from vlm_agent.training.vision_pretrain import IGNORE, VisionPretrainConfig, caption_targets, run_vision_pretrain

CONFIG = VisionPretrainConfig(steps=6, batch_size=4, lr=1e-3, warmup_steps=1, caption_tokens=24, head_width=16, save_every=100, eval_every=3, held_out_batches=1)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=8, num_envs=4), ExpertAgent(seed=0), root / "logs", "numberline")
    session.loop.run()
    session.finish()
    return root / "logs"


def split_weights(folder):
    """(vision tower + connector, language model) of a saved model, each flattened."""
    model = load_policy(folder).model
    vision, language = [], []
    for name, p in model.named_parameters():
        (vision if ("vision" in name or "connector" in name or "projector" in name) else language).append(p.detach().flatten())
    return torch.cat(vision), torch.cat(language)


@pytest.mark.parametrize("arch", ["idefics3", "llava"])
def test_only_the_image_path_learns_and_the_caption_loss_falls(arch, logs, tmp_path):
    model = build_tiny(arch, tmp_path / "model")
    data = load_sft_data([logs], held_out_fraction=splitting_fraction(logs), captions=True)
    seen = []
    config = VisionPretrainConfig(**{**CONFIG.__dict__, "steps": 30, "lr": 3e-3, "eval_every": 30})
    metrics = run_vision_pretrain(data, model, tmp_path / "out", config, on_progress=lambda step, m: seen.append(m["loss"]))
    assert metrics["step"] == 30 and 0.0 <= metrics["held_out_token_accuracy"] <= 1.0
    assert sum(seen[-5:]) / 5 < sum(seen[:5]) / 5 - 0.5
    vision_before, language_before = split_weights(model)
    vision_after, language_after = split_weights(tmp_path / "out")
    assert torch.equal(language_before, language_after)
    assert not torch.equal(vision_before, vision_after)
    load_policy(tmp_path / "out").act  # the published version is a normal model folder


def test_ctrl_c_publishes_and_resume_matches_an_uninterrupted_run(logs, tmp_path):
    model = build_tiny("idefics3", tmp_path / "model")
    data = load_sft_data([logs], held_out_fraction=splitting_fraction(logs), captions=True)
    run_vision_pretrain(data, model, tmp_path / "straight", CONFIG)

    def interrupt_at_2(step, metrics):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = run_vision_pretrain(data, model, tmp_path / "resumed", CONFIG, on_progress=interrupt_at_2)
    assert stopped["interrupted"] and CheckpointStore(tmp_path / "resumed").latest().meta()["step"] == 2
    finished = run_vision_pretrain(data, model, tmp_path / "resumed", CONFIG, resume=True)
    assert finished["step"] == 6
    assert torch.allclose(torch.cat(split_weights(tmp_path / "straight")), torch.cat(split_weights(tmp_path / "resumed")), atol=1e-6)


def test_targets_are_the_caption_tokens_then_end_of_answer_cut_to_length(tmp_path):
    policy = load_policy(build_tiny("idefics3", tmp_path / "model"))
    targets = caption_targets(policy, ["Target: 3. Current: 1.", "x" * 200], positions=12)
    ids = policy.tokenizer("Target: 3. Current: 1.", add_special_tokens=False)["input_ids"]
    row = targets[0][targets[0] != IGNORE].tolist()
    assert row[: len(ids)] == ids[:12] and (len(ids) >= 12 or row[-1] == min(policy.eos_ids))
    assert (targets[1] != IGNORE).all()


def test_logs_without_frame_text_are_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    data = load_sft_data([tmp_path / "empty"], captions=True)
    with pytest.raises(ValueError, match="no frames with a text state"):
        run_vision_pretrain(data, tmp_path / "model", tmp_path / "out", CONFIG)


@pytest.fixture(scope="module")
def two_renderings(tmp_path_factory):
    """NumberLine expert episodes drawn clear and drawn as the paper draws them, in one folder."""
    root = tmp_path_factory.mktemp("renderings")
    for render in ("clear", "paper"):
        config = LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=8, num_envs=4, env_kwargs={"render": render})
        session = PlaySession(config, ExpertAgent(seed=0), root / "logs", f"numberline-{render}")
        session.loop.run()
        session.finish()
    return root / "logs"


def clear_token_drift(model, trained, frames):
    from vlm_agent.agent.image_tokens import image_tokens

    with torch.no_grad():
        before, after = image_tokens(load_policy(model), frames), image_tokens(load_policy(trained), frames)
    return (((after - before) ** 2).mean() / (before**2).mean()).item()


def test_the_anchor_holds_the_anchored_renderings_tokens_while_the_other_rendering_learns(two_renderings, tmp_path):
    from vlm_agent.runtime.log_schema import decode_png

    model = build_tiny("idefics3", tmp_path / "model")
    from vlm_agent.training.sft_data import SFTData

    examples = load_sft_data([two_renderings], held_out_fraction=0.0, captions=True).train
    assert {e.render for e in examples if e.kind == "caption"} == {"clear", "paper"}
    data = SFTData(train=examples[1::3] + examples[2::3], held_out=examples[::3])  # both renderings in each
    clear = [decode_png(e.frame_png) for e in data.held_out if e.kind == "caption" and e.render == "clear"][:8]
    config = VisionPretrainConfig(**{**CONFIG.__dict__, "steps": 20, "lr": 3e-3, "eval_every": 20})
    free = run_vision_pretrain(data, model, tmp_path / "free", config)
    held = run_vision_pretrain(data, model, tmp_path / "held", VisionPretrainConfig(**{**config.__dict__, "anchor_weight": 30.0}))
    assert {"held_out_token_accuracy_clear", "held_out_token_accuracy_paper"} <= set(free)
    assert "held_out_anchor_drift" in held and "held_out_anchor_drift" not in free
    assert clear_token_drift(model, tmp_path / "held", clear) < clear_token_drift(model, tmp_path / "free", clear) / 3
    _, paper_only = split_weights(model)  # the language model is untouched either way
    assert torch.equal(paper_only, split_weights(tmp_path / "held")[1])


def test_an_anchor_without_frames_of_its_rendering_is_refused(logs, tmp_path):
    model = build_tiny("idefics3", tmp_path / "model")
    data = load_sft_data([logs], held_out_fraction=splitting_fraction(logs), captions=True)  # clear frames only
    with pytest.raises(ValueError, match="anchor-render paper"):
        run_vision_pretrain(data, model, tmp_path / "out",
                            VisionPretrainConfig(**{**CONFIG.__dict__, "anchor_weight": 1.0, "anchor_render": "paper"}))
    assert not (tmp_path / "out").exists() or not CheckpointStore(tmp_path / "out").latest()


def test_anchor_render_names_renderings_and_unlogged_frames():
    from vlm_agent.training.vision_pretrain import anchored_renders

    assert anchored_renders("clear") == {"clear"}
    assert anchored_renders("clear, unlogged") == {"clear", ""}


def test_the_progress_line_gives_each_renderings_accuracy_and_the_drift():
    from vlm_agent.cli.vision import held_out_line

    metrics = {"held_out_loss": 1.0, "held_out_token_accuracy": 0.5, "held_out_token_accuracy_clear": 0.7,
               "held_out_token_accuracy_paper": 0.3, "held_out_anchor_drift": 0.0094}
    assert held_out_line(metrics) == "held-out loss 1.000, tokens right 50.0% (clear 70.0%, paper 30.0%), anchored tokens drifted 0.94%"
    assert held_out_line({"held_out_loss": 1.0, "held_out_token_accuracy": 0.5, "held_out_token_accuracy_clear": 0.5}) \
        == "held-out loss 1.000, tokens right 50.0%"
