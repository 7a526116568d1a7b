"""Do a model's image tokens carry what a frame shows? A softmax probe per field, scored on held-out frames.

    python docs/token_probe.py MODEL LOG_DIR [--frames N]          # frames of logged card-game episodes
    python docs/token_probe.py MODEL --blackjack-hands K [--frames N] [--render paper]

The fields are read from each frame's logged text state: NumberLine's target and current, the card
games' ranks in order. `--blackjack-hands K` deals clear (or paper) Blackjack frames straight from the
environment (seeds from 7,000,000), hitting until the player holds K cards, and probes each card's value.
The probe sees the image tokens the language model reads (`agent/image_tokens.py`), standardised, and
trains on the first 75% of the frames. Prints one line per model: each field's held-out accuracy.
A field the probe reads but the model's answers misname is the language model's to learn, not the tower's.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch

from vlm_agent.agent.image_tokens import image_tokens
from vlm_agent.envs.cards import RANKS
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.runtime.log_schema import decode_png

def fields_of(text: str) -> list[int]:
    """NumberLine's (target, current), or the ranks of the cards the text state names, in order (A = 0 ... K = 12)."""
    if text.startswith("Target"):
        return [int(x) for x in re.findall(r"-?\d+", text)[:2]]
    return [RANKS.index(rank) for rank in re.findall(r"(\w+) of \w+ \(", text)]


def logged_frames(logs: Path, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    frames, labels = [], []
    for episode in iter_episodes([logs]):
        for row in episode.rows:
            frames.append(decode_png(row.frame_png))
            labels.append(fields_of(row.observation_text))
        if len(frames) >= count:
            break
    width = min(map(len, labels))  # Blackjack hands grow: probe the cards every frame has
    return frames, np.array([label[:width] for label in labels])


def blackjack_frames(cards: int, count: int, render: str) -> tuple[list[np.ndarray], np.ndarray]:
    from vlm_agent.envs.blackjack import BlackjackEnv

    env, frames, labels, seed = BlackjackEnv(render=render), [], [], 7_000_000
    while len(frames) < count:
        seed += 1
        env.reset(seed=seed)
        while len(env.player_cards) < cards and not env.finished:
            env.play("hit")
        if len(env.player_cards) == cards and not env.finished:
            frames.append(env.render())
            labels.append([card.value for card in env.player_cards])
    return frames, np.array(labels)


def probe(tokens: np.ndarray, labels: np.ndarray) -> list[float]:
    """Held-out accuracy of a softmax regression per label column (train: the first 75%)."""
    n = int(len(tokens) * 0.75)
    x = torch.tensor((tokens - tokens[:n].mean(0)) / (tokens[:n].std(0) + 1e-6), dtype=torch.float32)
    scores = []
    for column in labels.T:
        y = torch.tensor(column - column.min())
        head = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
        optimizer = torch.optim.LBFGS(head.parameters(), max_iter=300)

        def closure():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(x[:n]), y[:n]) + 1e-3 * head.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            scores.append(float((head(x[n:]).argmax(-1) == y[n:]).float().mean()))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="model folders, comma-separated")
    parser.add_argument("logs", type=Path, nargs="?")
    parser.add_argument("--blackjack-hands", type=int, default=0)
    parser.add_argument("--render", default="clear")
    parser.add_argument("--frames", type=int, default=1200)
    args = parser.parse_args()
    if args.blackjack_hands:
        frames, labels = blackjack_frames(args.blackjack_hands, args.frames, args.render)
    elif args.logs:
        frames, labels = logged_frames(args.logs, args.frames)
    else:
        parser.error("give LOG_DIR or --blackjack-hands K")
    for model in str(args.model).split(","):
        policy = load_policy(Path(model))
        with torch.no_grad():
            tokens = np.concatenate([image_tokens(policy, frames[i:i + 32]).float().numpy() for i in range(0, len(frames), 32)])
        scores = ", ".join(f"field {k + 1}: {score:.2f}" for k, score in enumerate(probe(tokens, labels)))
        print(f"{model}: {len(frames)} frames, {len({tuple(row) for row in labels})} distinct; held out {scores}")


if __name__ == "__main__":
    main()
