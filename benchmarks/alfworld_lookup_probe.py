"""Which of the ranked teacher's search decisions a model gets right when fed the teacher's own answer.

    .venv/bin/python benchmarks/alfworld_lookup_probe.py runs/sft --logs runs/dev-teacher -n 80

The ranked and shuffled teachers (`--agent expert-ranked`, `expert-shuffled`) write each search
step's lookup out: "here a cup is likeliest at a countertop (searched), then a cabinet, and
cabinet 3 is unsearched" (ranked), or with each kind's entry of the memory quoted: "likeliest at a
countertop none, then a cabinet 2, 3, so I go to cabinet 3" (shuffled). Teacher-forced on n of
their logged search steps (drawn seeded), the probe counts, at each decision token of that
sentence, whether the model's most likely next token is the teacher's:
- first kind: the kind after "likeliest at a" (the room's kind likeliest to hold what is sought);
- next kind: the kind after "then a" (the next likeliest, once the one before is spent);
- spent or not: the token after each kind: " (searched)" or ",", or the entry's "none" or first number;
- place number: the number after "and KIND" or "go to KIND" (an unsearched place of the chosen kind).
The whole answer's token accuracy is printed beside them: it is dominated by text copied from the
prompt and hides these few tokens. About a minute for 80 prompts on 2 cores. Run it on the
teacher's training games and on games the model never saw: the gap says whether the lookup
generalises or is not learned at all.

With `--drills full` or `--drills short`, it scores lookup drills (training/lookup_drills.py) made
from the logged prompts instead (full: the whole prompt; short: the memory block alone): at each
entry after a name, whether the model's likeliest token is the entry's first. Compare with the
constant it prints: the share of entries that begin with the commonest first token, which a model
that looks nothing up scores. The entries are also split by what a lookup must get past: "none"
(every place of the kind searched) or a number, and whether the kind's word is also on another line
of the memory block (`at:`, `seen ...:`, `searched:`), where a head that matches the word alone would
copy that line's number instead.
"""
from __future__ import annotations

import argparse
import io
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vlm_agent.agent.vlm_inputs import prompt_inputs, with_responses
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.envs.alfworld.memory import grouped_entries
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.training.lookup_drills import lookup_drill, memory_block
from vlm_agent.training.sft_data import SFTExample

KINDS = ("first kind", "next kind", "spent or not", "place number", "every answer token")


def decision(pieces: list[str], j: int, start: int, end: int, offsets: list[int]) -> str | None:
    """The class of the decision token pieces[j + 1] (None: not one), inside the lookup [start, end) of the text."""
    if not start <= offsets[j] < end:
        return None
    here, after = pieces[j], pieces[j + 1]
    before = pieces[j - 1] if j else ""
    if here == " a" and before == " at":
        return "first kind"
    if here == " a" and before == " then":
        return "next kind"
    if before == " a" and here.strip().isalpha() and (after in (" ", ",", " n") or after.strip().isdigit()):
        return "spent or not"
    if before in (" and", " to") and after.strip().isdigit():
        return "place number"
    return None


def guesses_for(policy, frame_pngs: list[bytes], prompts: list[str], answers: list[list[int]]) -> list[list[int]]:
    """Teacher-forced: the model's likeliest token at each position of each answer (row k: its token k)."""
    frames = [np.array(Image.open(io.BytesIO(png)).convert("RGB")) for png in frame_pngs]
    full, mask = with_responses(prompt_inputs(policy.processor, frames, prompts), answers, policy.pad_id)
    logits = policy.model(**policy.placed(full), logits_to_keep=mask.shape[1] + 1).logits
    return logits[:, :-1, :].argmax(-1).tolist()


def entry_positions(pieces: list[str]) -> list[int]:
    """Indexes of a drill answer's tokens that begin an entry: those right after a name that follows "; "."""
    return [j + 1 for j in range(1, len(pieces) - 1) if pieces[j - 1] == ";" and pieces[j].strip().isalpha()]


def entry_group(prompt: str, name: str, entry: str) -> str:
    """A drill entry's group: "none" or "number", and whether `name` is on a memory line other than `unsearched:`."""
    others = [line for line in (memory_block(prompt) or "").splitlines()[1:] if not line.startswith("unsearched:")]
    elsewhere = any(re.search(rf"\b{re.escape(name)}\b", line) for line in others)
    return f"{'none' if entry == 'none' else 'number'}, {'also on another line' if elsewhere else 'only in unsearched:'}"


def probe_drills(policy, rows, n: int, batch: int, short: bool) -> str:
    examples = (SFTExample(row.frame_png, memory_block(row.prompt) if short else row.prompt, "", row.env_id) for row in rows)
    drills = [drill for drill in (lookup_drill(e) for e in examples if e.prompt) if drill][:n]
    tokenizer, right, seen, firsts = policy.tokenizer, 0, 0, Counter()
    group_right, group_seen = Counter(), Counter()
    with torch.no_grad():
        for i in range(0, len(drills), batch):
            chunk = drills[i:i + batch]
            answers = [tokenizer(d.answer, add_special_tokens=False)["input_ids"] for d in chunk]
            guesses = guesses_for(policy, [d.frame_png for d in chunk], [d.prompt for d in chunk], answers)
            for drill, ids, guess in zip(chunk, answers, guesses):
                pieces = [tokenizer.decode([t]) for t in ids]
                entries = dict(grouped_entries(drill.answer))
                for k in entry_positions(pieces):
                    right += guess[k] == ids[k]
                    seen += 1
                    firsts[ids[k]] += 1
                    name = pieces[k - 1].strip()
                    group = entry_group(drill.prompt, name, entries[name])
                    group_right[group] += guess[k] == ids[k]
                    group_seen[group] += 1
    constant = firsts.most_common(1)[0][1] if firsts else 0
    return (f"{len(drills)} {'short' if short else 'full'} drills: entries {right}/{seen} ({100 * right / max(1, seen):.1f}%), "
            f"the commonest first token alone {constant}/{seen} ({100 * constant / max(1, seen):.1f}%); by entry: "
            + "; ".join(f"{group} {group_right[group]}/{group_seen[group]}" for group in sorted(group_seen)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="model folder or checkpoint root")
    parser.add_argument("--logs", type=Path, nargs="+", required=True,
                        help="episodes of the ranked or shuffled teacher (play --agent expert-shuffled)")
    parser.add_argument("-n", type=int, default=80, help="search steps to probe")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--drills", choices=("full", "short"), help="score lookup drills made from the prompts instead")
    args = parser.parse_args()
    if args.drills:
        rows = [row for episode in iter_episodes(args.logs) for row in episode.rows]
        random.Random(0).shuffle(rows)
        policy = load_policy(args.model)
        print(f"{args.model} ({policy.policy_version}): " + probe_drills(policy, rows, args.n, args.batch, args.drills == "short"))
        return

    rows = [row for episode in iter_episodes(args.logs) for row in episode.rows if "likeliest at a" in (row.response or "")]
    if not rows:
        raise SystemExit(f"no ranked search steps in {', '.join(map(str, args.logs))}: play --agent expert-shuffled first")
    random.Random(0).shuffle(rows)
    rows = rows[:args.n]
    policy = load_policy(args.model)
    tokenizer = policy.tokenizer
    right = {kind: 0 for kind in KINDS}
    seen = {kind: 0 for kind in KINDS}
    with torch.no_grad():
        for i in range(0, len(rows), args.batch):
            batch = rows[i:i + args.batch]
            answers = [tokenizer(row.response, add_special_tokens=False)["input_ids"] for row in batch]
            guesses = guesses_for(policy, [row.frame_png for row in batch], [row.prompt for row in batch], answers)
            for ids, guess in zip(answers, guesses):
                pieces = [tokenizer.decode([t]) for t in ids]
                offsets = np.cumsum([0] + [len(p) for p in pieces]).tolist()
                text = "".join(pieces)
                start = text.find("likeliest at a")
                end = text.find(" is unsearched", start)  # ranked; quoted: up to the end of "so I go to KIND N."
                end = end if end >= 0 else text.find(".", text.find(", so I ", start))
                for j in range(len(ids) - 1):
                    ok = guess[j + 1] == ids[j + 1]
                    for kind in ("every answer token", decision(pieces, j, start, end, offsets)):
                        if kind:
                            right[kind] += ok
                            seen[kind] += 1
    print(f"{args.model} ({policy.policy_version}), {len(rows)} search steps of {', '.join(map(str, args.logs))}: "
          + ", ".join(f"{kind} {right[kind]}/{seen[kind]} ({100 * right[kind] / max(1, seen[kind]):.1f}%)" for kind in KINDS))


if __name__ == "__main__":
    main()
