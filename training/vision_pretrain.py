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

from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.image_tokens import image_path_parameters, image_tokens
from vlm_agent.agent.token_masks import text_offsets
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.vision_config import VisionPretrainConfig  # noqa: F401  (defined apart so the CLI needs no torch)
from vlm_agent.training.sft import StopFlag, cosine_with_warmup, optimizer_step
from vlm_agent.training.sft_data import SFTData, SFTExample
from vlm_agent.training.trainer_state import load_trainer_state, save_trainer_state

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
        hidden = self.spread(features).view(features.shape[0], self.positions, self.width)
        return self.out(nn.functional.gelu(self.norm(hidden)))


def caption_targets(policy: VLMPolicy, captions: Sequence[str], positions: int) -> torch.Tensor:
    """Caption token ids (then end-of-answer), cut or padded with IGNORE to `positions`."""
    rows = torch.full((len(captions), positions), IGNORE, dtype=torch.long)
    for row, caption in enumerate(captions):
        ids = (text_offsets(policy.tokenizer, caption)[0] + [min(policy.eos_ids)])[:positions]
        rows[row, : len(ids)] = torch.tensor(ids)
    return rows


def caption_loss(policy: VLMPolicy, head: CaptionHead, batch: Sequence[SFTExample]) -> tuple[torch.Tensor, float]:
    """(mean cross-entropy over caption positions, fraction of caption tokens predicted right)."""
    logits = head(image_tokens(policy, [decode_png(e.frame_png) for e in batch]))
    targets = caption_targets(policy, [e.answer for e in batch], head.positions)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    known = targets != IGNORE
    accuracy = (logits.argmax(-1) == targets)[known].float().mean().item()
    return loss, accuracy


def sample_batch(examples: list[SFTExample], step: int, batch_size: int, seed: int) -> list[SFTExample]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)  # a function of the step: resumes exactly
    return [examples[i] for i in torch.randint(len(examples), (batch_size,), generator=generator).tolist()]


@torch.no_grad()
def held_out_scores(policy: VLMPolicy, head: CaptionHead, examples: list[SFTExample], config: VisionPretrainConfig) -> dict:
    policy.train(False)
    count = min(len(examples), config.held_out_batches * config.batch_size)
    examples = [examples[i * len(examples) // count] for i in range(count)]  # spread over every environment
    losses, accuracies = [], []
    for k in range(0, count, config.batch_size):
        loss, accuracy = caption_loss(policy, head, examples[k : k + config.batch_size])
        losses.append(loss.item())
        accuracies.append(accuracy)
    policy.train(True)
    return {"held_out_loss": sum(losses) / len(losses), "held_out_token_accuracy": sum(accuracies) / len(accuracies)}


def run_vision_pretrain(
    data: SFTData,
    start_model: Path,
    out: Path,
    config: VisionPretrainConfig,
    resume: bool = False,
    on_progress: Callable[[int, dict], None] | None = None,
    run_options: dict | None = None,
) -> dict:
    """Train the vision tower and connector of `start_model` on `data`'s captions; publish under `out`.

    Versions are published like SFT's (a plain model folder plus the head and optimizer state, so
    `resume` continues exactly); Ctrl-C finishes the step, publishes and returns.
    """
    train = [e for e in data.train if e.kind == "caption"]
    held_out = [e for e in data.held_out if e.kind == "caption"]
    if not train:
        raise ValueError("no frames with a text state: log episodes of environments that describe their frames")
    store = CheckpointStore(out)
    store.clean_partial()
    latest = store.latest() if resume else None
    policy = load_policy(latest.path if latest else start_model)
    policy.train(True)
    feature_size = image_tokens(policy, [decode_png(train[0].frame_png)]).shape[1]
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        head = CaptionHead(feature_size, config.caption_tokens, len(policy.tokenizer), config.head_width)
    if latest:
        head.load_state_dict(torch.load(latest.path / HEAD_FILE))
    # Only the image path is optimised; the language model and value head are left as they are.
    params = image_path_parameters(policy, decode_png(train[0].frame_png)) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = cosine_with_warmup(optimizer, config.warmup_steps, config.steps)
    step = (load_trainer_state(latest.path, optimizer, scheduler) if latest else {}).get("step", 0)
    metrics: dict = {"step": step}

    def publish(step: int, metrics: dict) -> None:
        def save(folder: Path) -> None:
            policy.save_pretrained(folder)
            torch.save(head.state_dict(), folder / HEAD_FILE)
            save_trainer_state(folder, optimizer, scheduler, {"step": step, "kind": "vision-pretrain"})

        store.publish(save, {"kind": "vision-pretrain", "step": step, "metrics": metrics, "config": asdict(config), "run": run_options})

    with StopFlag() as stop:
        while step < config.steps and not stop.requested:
            loss, accuracy = caption_loss(policy, head, sample_batch(train, step, config.batch_size, config.seed))
            optimizer_step(loss, params, optimizer, scheduler, config.max_grad_norm)
            step += 1
            metrics = {"step": step, "loss": loss.item(), "token_accuracy": accuracy, "lr": scheduler.get_last_lr()[0]}
            if held_out and (step % config.eval_every == 0 or step == config.steps):
                metrics.update(held_out_scores(policy, head, held_out, config))
            if on_progress:
                on_progress(step, metrics)
            if step % config.save_every == 0 and step < config.steps:
                publish(step, metrics)
        publish(step, metrics)
    metrics["interrupted"] = stop.requested
    return metrics
