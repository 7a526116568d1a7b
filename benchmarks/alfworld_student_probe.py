"""How closely a model's answers follow the ALFWorld teacher's, step by step, on teacher-labelled prompts.

    .venv/bin/vlm-agent play alfworld --agent expert --alfworld-data DATA --split valid_unseen \
        --episodes 30 --seed 0 --headless --log-dir runs/dev-teacher        # the labelled prompts
    .venv/bin/python benchmarks/alfworld_student_probe.py runs/sft --logs runs/dev-teacher -n 60

A cheap signal while a model trains (about 15 s for 60 prompts on 2 cores), before a full `eval`:
for n prompts drawn (seeded) from the teacher's logged steps, the model answers greedily from the
teacher's own state, and the probe counts how often the answer restates the task, names the
teacher's action, and names an admissible one. It says nothing about states the model reaches on
its own (a model that errs drifts into states the teacher never visits): `eval` measures that.
Use a split the model was not trained on.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vlm_agent.agent.parsing import parse_action
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.log_reader import iter_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="model folder or checkpoint root")
    parser.add_argument("--logs", type=Path, required=True, help="teacher episodes (play --agent expert) to probe on")
    parser.add_argument("-n", type=int, default=60, help="prompts to probe")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--show", type=int, default=0, help="print this many disagreements")
    parser.add_argument("--max-new-tokens", type=int, default=256,
                        help="answer length cap (the ranked teacher's answers reach about 230 tokens)")
    args = parser.parse_args()

    rows = [row for episode in iter_episodes([args.logs]) for row in episode.rows]
    random.Random(0).shuffle(rows)
    rows = rows[:args.n]
    policy = load_policy(args.model, max_new_tokens=args.max_new_tokens)
    started, answers = time.time(), []
    for i in range(0, len(rows), args.batch):
        batch = rows[i:i + args.batch]
        frames = [np.array(Image.open(io.BytesIO(row.frame_png)).convert("RGB")) for row in batch]
        answers += [policy.tokenizer.decode(ids, skip_special_tokens=True)
                    for ids, _, _ in policy.generate(frames, [row.prompt for row in batch])]
    counts = {"task restated": 0, "teacher's action": 0, "admissible action": 0}
    shown = 0
    for row, text in zip(rows, answers):
        action = parse_action(text, row.legal_actions).action
        counts["task restated"] += f"The task is to {row.task_text}." in text
        counts["teacher's action"] += action == row.parsed_action
        counts["admissible action"] += action in row.legal_actions
        if action != row.parsed_action and shown < args.show:
            shown += 1
            print(f"teacher: {json.loads(row.response)['thoughts']} => {row.parsed_action}\nmodel:   {text}\n")
    n = len(rows)
    print(f"{args.model} ({policy.policy_version}), {n} prompts of {args.logs}, {time.time() - started:.0f} s: "
          + ", ".join(f"{name} {count}/{n} ({100 * count / max(1, n):.0f}%)" for name, count in counts.items()))


if __name__ == "__main__":
    main()
