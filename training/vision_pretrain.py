"""Vision pretraining: teach a vision tower trained from scratch to see what the frame's caption says.

A new vision tower gives the language model uniform, uninformative image tokens, and SFT then sits
on a long plateau where the model ignores the frame (measured: held-out caption loss flat at 0.29
for 150 steps on NumberLine). Here the image tokens alone (vision tower + connector, no language
model) must predict the caption's token at every position through a small head. The head reads the
flattened image tokens, so it needs no attention to learn; once the tokens carry the frame's
content, the language model learns to read them within tens of SFT steps. The head is thrown away;
the published model is a normal model folder whose language model and value head are untouched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.agent.image_tokens import image_path_parameters, image_tokens
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.agent.token_masks import text_offsets
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.training.run_scaffold import TrainingRun
from vlm_agent.training.sft_data import SFTData, SFTExample
from vlm_agent.training.vision_config import VisionPretrainConfig  # noqa: F401  (defined apart so the CLI needs no torch)

HEAD_FILE = "caption_head.pt"
IGNORE = -100


class CaptionHead(nn.Module):
    """Predicts the caption token at each position from all image tokens, flattened."""

    def __init__(self, feature_size: int, positions: int, vocab_size: int, width: int):
        super().__init__()
        self.positions, self.width = positions, width
        self.spread = nn.Linear(feature_size, positions * width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, vocab_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = self.spread(features.to(self.spread.weight.dtype)).view(features.shape[0], self.positions, self.width)
        return self.out(nn.functional.gelu(self.norm(hidden)))


def caption_targets(policy: VLMPolicy, captions: Sequence[str], positions: int) -> torch.Tensor:
    """Caption token ids (then end-of-answer), cut or padded with IGNORE to `positions`."""
    rows = torch.full((len(captions), positions), IGNORE, dtype=torch.long)
    for row, caption in enumerate(captions):
        ids = (text_offsets(policy.tokenizer, caption)[0] + [min(policy.eos_ids)])[:positions]
        rows[row, : len(ids)] = torch.tensor(ids)
    return rows


def caption_loss(policy: VLMPolicy, head: CaptionHead, batch: Sequence[SFTExample],
                 tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """(mean cross-entropy over caption positions, fraction of caption tokens predicted right); `tokens`: the
    batch's image tokens where the caller has them already."""
    logits = head(image_tokens(policy, [decode_png(e.frame_png) for e in batch]) if tokens is None else tokens)
    targets = caption_targets(policy, [e.answer for e in batch], head.positions).to(logits.device)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    known = targets != IGNORE
    accuracy = (logits.argmax(-1) == targets)[known].float().mean().item()
    return loss, accuracy


class Anchor:
    """The start model's image tokens, for the frames of one rendering: `--anchor-weight` holds the trained tokens to them.

    A language model trained on a rendering reads its image tokens; a tower retrained for a new rendering moves
    them (exp7: clear-frame EZPoints 100% -> 85%). The anchor's loss is the squared drift of those frames' tokens
    from the start model's, relative to the start tokens' mean square, so its weight reads the same at any width.
    """

    def __init__(self, start: VLMPolicy, renders: str, weight: float):
        self.start, self.weight = start, weight
        self.renders = anchored_renders(renders)
        self.start.train(False)

    def holds(self, example: SFTExample) -> bool:
        return example.render in self.renders

    def drift(self, batch: Sequence[SFTExample], frames: Sequence, tokens: torch.Tensor) -> torch.Tensor | None:
        """Relative squared drift of the anchored frames of `batch` (decoded as `frames`, with the trained model's
        image `tokens`, one row each); None when it holds none of them."""
        rows = [row for row, example in enumerate(batch) if self.holds(example)]
        if not rows:
            return None
        with torch.no_grad():
            target = image_tokens(self.start, [frames[row] for row in rows]).float()
        held = tokens[torch.tensor(rows, device=tokens.device)].float()
        return ((held - target) ** 2).mean() / (target**2).mean().clamp_min(1e-12)


def anchored_renders(option: str) -> set[str]:
    """The logged renderings `--anchor-render` names ("unlogged": frames whose environment logs none)."""
    return {"" if name.strip() == "unlogged" else name.strip() for name in option.split(",") if name.strip()}


def anchored_loss(policy: VLMPolicy, head: CaptionHead, batch: Sequence[SFTExample], anchor: Anchor | None) -> tuple[torch.Tensor, dict]:
    """The caption loss, plus the anchor's weighted drift where the batch holds anchored frames; and their metrics.
    The batch's image tokens are computed once, for both."""
    frames = [decode_png(e.frame_png) for e in batch]
    tokens = image_tokens(policy, frames)
    loss, accuracy = caption_loss(policy, head, batch, tokens)
    metrics = {"token_accuracy": accuracy}
    drift = anchor.drift(batch, frames, tokens) if anchor is not None else None
    if drift is not None:
        loss = loss + anchor.weight * drift
        metrics["anchor_drift"] = drift.item()
    return loss, metrics


def sample_batch(examples: list[SFTExample], step: int, batch_size: int, seed: int) -> list[SFTExample]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)  # a function of the step: resumes exactly
    return [examples[i] for i in torch.randint(len(examples), (batch_size,), generator=generator).tolist()]


@torch.no_grad()
def held_out_scores(policy: VLMPolicy, head: CaptionHead, examples: list[SFTExample], config: VisionPretrainConfig,
                    anchor: Anchor | None = None) -> dict:
    """Held-out caption loss and token accuracy, over all frames and per logged rendering; the anchor's drift."""
    policy.train(False)
    count = min(len(examples), config.held_out_batches * config.batch_size)
    examples = [examples[i * len(examples) // count] for i in range(count)]  # spread over every environment
    losses, right, drifts = [], {}, []
    for k in range(0, count, config.batch_size):
        batch = examples[k : k + config.batch_size]
        frames = [decode_png(e.frame_png) for e in batch]
        tokens = image_tokens(policy, frames)
        loss, accuracy = caption_loss(policy, head, batch, tokens)
        losses.append(loss.item())
        right.setdefault("", []).append(accuracy)
        for render in sorted({e.render for e in batch if e.render}):
            rows = [row for row, e in enumerate(batch) if e.render == render]
            sub = tokens[torch.tensor(rows, device=tokens.device)]
            right.setdefault(render, []).append(caption_loss(policy, head, [batch[row] for row in rows], sub)[1])
        drift = anchor.drift(batch, frames, tokens) if anchor is not None else None
        if drift is not None:
            drifts.append(drift.item())
    policy.train(True)
    scores = {"held_out_loss": sum(losses) / len(losses)}
    for render, values in right.items():
        scores["held_out_token_accuracy" + (f"_{render}" if render else "")] = sum(values) / len(values)
    if drifts:
        scores["held_out_anchor_drift"] = sum(drifts) / len(drifts)
    return scores


def run_vision_pretrain(
    data: SFTData,
    start_model: Path,
    out: Path,
    config: VisionPretrainConfig,
    resume: bool = False,
    on_progress: Callable[[int, dict], None] | None = None,
    run_options: dict | None = None,
    device: DeviceConfig | None = None,
) -> dict:
    """Train the vision tower and connector of `start_model` on `data`'s captions; publish under `out`.

    Versions are published like SFT's (a plain model folder plus the head and optimizer state, so
    `resume` continues exactly, and `run_options` as meta["run"] when given); Ctrl-C finishes the
    step, publishes and returns.
    """
    train = [e for e in data.train if e.kind == "caption"]
    held_out = [e for e in data.held_out if e.kind == "caption"]
    if not train:
        raise ValueError("no frames with a text state: log episodes of environments that describe their frames")
    if config.anchor_weight > 0 and start_model is None:
        raise ValueError("--anchor-weight needs --model: the start model whose image tokens it holds")
    run = TrainingRun(out, "vision-pretrain", config, resume, run_options, device=device)
    policy = run.load_policy(start_model)
    anchor = None
    if config.anchor_weight > 0:
        if not any(e.render in anchored_renders(config.anchor_render) for e in train):
            raise ValueError(f"--anchor-render {config.anchor_render}: no training frame was logged with that rendering")
        anchor = Anchor(load_policy(start_model, placement=run.placement), config.anchor_render, config.anchor_weight)
    policy.train(True)
    feature_size = image_tokens(policy, [decode_png(train[0].frame_png)]).shape[1]
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        head = CaptionHead(feature_size, config.caption_tokens, len(policy.tokenizer), config.head_width).to(policy.device)
    if run.latest:
        head.load_state_dict(torch.load(run.latest.path / HEAD_FILE, map_location=policy.device))
    # Only the image path is optimised; the language model and value head are left as they are.
    run.build_step_optimizer(image_path_parameters(policy, decode_png(train[0].frame_png)) + list(head.parameters()))

    def loss_at(step: int) -> tuple[torch.Tensor, dict]:
        return anchored_loss(policy, head, sample_batch(train, step, config.batch_size, config.seed), anchor)

    evaluate = (lambda: held_out_scores(policy, head, held_out, config, anchor)) if held_out else None
    return run.run_steps(loss_at, evaluate, on_progress, save_extra=lambda folder: torch.save(head.state_dict(), folder / HEAD_FILE))
