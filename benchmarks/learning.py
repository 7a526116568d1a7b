"""Learning curve of PPO from logs: alternate `vlm-agent play` and `vlm-agent finetune`, evaluate each round on fixed seeds.

Every step is the real command line (printed), so the curve is what a user gets:
    round r:  play ENV --model M --episodes E (sampling)  ->  logs/
              finetune logs/ --out ckpt [--resume]          ->  ckpt/versions/v...
              play ENV --model ckpt --greedy (fixed seeds)  ->  eval/   (greedy success, the curve)
    --eval-temperature T > 0 samples the eval at T instead. Sampling noise is keyed to (seed, step),
    so every version draws the same noise on an eval seed, and the table ends with a per-seed paired
    test of the last evaluated round against the start. --eval-every N evaluates fewer rounds.

Usage:
    python benchmarks/learning.py --env numberline --start runs/learning/numberline/sft-weak/versions/v000001 \
        --out runs/learning/numberline/ppo --rounds 12 --minutes 110
Results go to <out>/curve.jsonl and a table on stdout; <out>/ckpt/tensorboard holds the diagnostics.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from vlm_agent.runtime.log_reader import iter_episodes

CLI = [sys.executable, "-m", "vlm_agent.cli.main"]
EVAL_SEED = 100_000  # eval episodes are reset with 100000 + k; sampled rounds start at round_seed(round, starts)


def run(args: list[str]) -> None:
    print("$ vlm-agent " + " ".join(args), flush=True)
    result = subprocess.run(CLI + args, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if result.returncode == 130:  # the command was stopped with Ctrl-C and saved what it had
        raise KeyboardInterrupt
    result.check_returncode()


def newest_run(log_dir: Path) -> Path:
    summaries = sorted(log_dir.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    return summaries[-1].parent


def newest_summary(log_dir: Path) -> dict:
    return json.loads((newest_run(log_dir) / "summary.json").read_text())


def won_seeds(run_dir: Path) -> list[int]:
    """The reset seeds of the run's won episodes (an eval plays each seed once)."""
    return sorted(int(episode.table.column("episode_seed")[0].as_py()) for episode in iter_episodes([run_dir]) if episode.success)


def last_metrics(ckpt: Path) -> dict:
    lines = (ckpt / "metrics.jsonl").read_text().splitlines() if (ckpt / "metrics.jsonl").exists() else []
    return json.loads(lines[-1]) if lines else {}


def evaluate(args, model: Path) -> dict:
    """Play the fixed eval seeds with `model`: greedy, or sampled at --eval-temperature."""
    decoding = ["--greedy"] if args.eval_temperature == 0 else ["--temperature", str(args.eval_temperature)]
    run(["play", args.env, "--model", str(model), *decoding, "--episodes", str(args.eval_episodes), "--num-envs", str(args.num_envs),
         "--seed", str(EVAL_SEED), *decoding_flags(args), "--headless", "--log-dir", str(args.out / "eval")])
    summary = newest_summary(args.out / "eval")
    return {**summary, "won_seeds": won_seeds(newest_run(args.out / "eval"))}


def eval_row(summary: dict, args) -> dict:
    return {"eval_decoding": eval_decoding(args), "eval_success": summary["success_rate"], "eval_episodes": summary["episodes"],
            "eval_return": summary["mean_return"], "eval_invalid": summary.get("invalid_action_rate"), "eval_won_seeds": summary["won_seeds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="numberline")
    parser.add_argument("--start", type=Path, required=True, help="Weak start model (e.g. an early SFT version).")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=110.0, help="Stop starting rounds after this much time.")
    parser.add_argument("--episodes", type=int, default=32, help="Sampled episodes per round.")
    parser.add_argument("--repeats", type=int, default=1, help="Play each start this many times per round (groups for --advantage grpo).")
    parser.add_argument("--eval-episodes", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=1, help="Evaluate every this many rounds (and always the start and round --rounds).")
    parser.add_argument("--eval-temperature", type=float, default=0.0,
                        help="0: greedy eval; > 0: sampled eval at this temperature (for policies that loop when greedy).")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--fallback", default="noop", help="What an invalid answer does in play and eval: noop, or random (RL4VLM's reference).")
    parser.add_argument("--constrain-actions", action=argparse.BooleanOptionalAction, default=None,
                        help="Decode the action value only among the legal actions, in play and eval (default: the model's own, else off).")
    parser.add_argument("--finetune-args", default="--lr 1e-4 --lr-min 1e-6 --max-grad-norm 1.0 --epochs 2 --minibatch-size 16 --ent-coef 0",
                        help="PPO flags for finetune (the paper's lr/grad-norm are for a 7B LoRA; this model is 5M parameters).")
    args = parser.parse_args()
    if args.eval_every < 1:
        parser.error(f"--eval-every must be at least 1, got {args.eval_every}")

    ckpt, logs = args.out / "ckpt", args.out / "logs"
    curve_file = args.out / "curve.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    done = sum(1 for _ in open(curve_file)) if curve_file.exists() else 0  # resume a benchmark that was stopped
    ppo_flags = args.finetune_args.split() + ["--total-updates", str(args.rounds)]
    if done == 0:
        summary = evaluate(args, args.start)
        record(curve_file, {"round": 0, "version": "start", **eval_row(summary, args), "minutes": (time.time() - started) / 60})
        done = 1
    try:
        run_rounds(args, done, started, ckpt, logs, curve_file, ppo_flags)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to continue")
    print_table(curve_file, args.eval_episodes)


def round_starts(episodes: int, repeats: int) -> int:
    """Seeds one round's play resets (as LoopConfig.starts counts them: the last start may be played fewer times)."""
    return math.ceil(episodes / repeats)


def round_seed(r: int, starts: int) -> int:
    """First reset seed of round r: a fresh block per round, shifted by the starts already played.

    Without the shift every round began at a multiple of 1000, and ALFWorld's generated games
    (game = seed % 20) replayed the same first `starts` games each round: with --repeats 4 and 32
    episodes, games 0-7 only, never 8-19.
    """
    return 1000 * r + (r - 1) * starts


def run_rounds(args, done: int, started: float, ckpt: Path, logs: Path, curve_file: Path, ppo_flags: list[str]) -> None:
    for r in range(done, args.rounds + 1):
        if (time.time() - started) / 60 > args.minutes:
            print(f"time budget of {args.minutes} minutes reached")
            break
        model = ckpt if (ckpt / "LATEST").exists() else args.start
        run(["play", args.env, "--model", str(model), "--episodes", str(args.episodes), "--num-envs", str(args.num_envs),
             "--temperature", str(args.temperature), "--seed", str(round_seed(r, round_starts(args.episodes, args.repeats))), "--repeats", str(args.repeats), *decoding_flags(args), "--headless", "--log-dir", str(logs)])
        played = newest_summary(logs)
        resume = ["--resume"] if (ckpt / "LATEST").exists() else ["--model", str(args.start)]
        run(["finetune", str(logs), "--out", str(ckpt), *resume, *ppo_flags])
        metrics = last_metrics(ckpt)
        evaluated = eval_row(evaluate(args, ckpt), args) if r % args.eval_every == 0 or r == args.rounds else {}
        record(curve_file, {
            "round": r, "version": metrics.get("version"), **evaluated,
            "sampled_success": played["success_rate"], "sampled_invalid": played.get("invalid_action_rate"),
            **{k: metrics.get(k) for k in ("samples", "approx_kl", "clip_fraction", "explained_variance", "entropy", "policy_loss", "value_loss", "dropped_stale")},
            "minutes": (time.time() - started) / 60,
        })


def decoding_flags(args) -> list[str]:
    """What play and eval share: answer length, what an invalid answer does, constrained actions."""
    flags = ["--max-new-tokens", str(args.max_new_tokens), "--fallback", args.fallback]
    return flags + ([] if args.constrain_actions is None else ["--constrain-actions" if args.constrain_actions else "--no-constrain-actions"])


def eval_decoding(args) -> str:
    return "greedy" if args.eval_temperature == 0 else f"T={args.eval_temperature:g}"


def record(curve_file: Path, row: dict) -> None:
    with open(curve_file, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def fisher_one_sided(wins_a: int, n_a: int, wins_b: int, n_b: int) -> float:
    """P(B wins at least wins_b | the wins of A and B pooled, equal rates): Fisher's exact test that B > A."""
    wins, n = wins_a + wins_b, n_a + n_b
    return sum(math.comb(n_b, k) * math.comb(n_a, wins - k) for k in range(wins_b, min(wins, n_b) + 1)) / math.comb(n, wins)


def paired_sign_test(won_a: set[int], won_b: set[int]) -> tuple[int, int, float]:
    """Exact one-sided McNemar test that B wins more seeds than A, on the seeds where they differ.

    Returns (seeds only B won, seeds only A won, P(B gains at least that many | each differing
    seed equally likely to go either way)). It is the test that pairs: with keyed sampling both
    policies draw the same noise on a seed, so seeds differ mostly where the policies do.
    """
    gained, lost = len(won_b - won_a), len(won_a - won_b)
    n = gained + lost
    return gained, lost, sum(math.comb(n, k) for k in range(gained, n + 1)) / 2 ** n


def significance(rows: list[dict], eval_episodes: int) -> str:
    """The last evaluated round against the start on the same eval seeds: is the rise more than eval noise?"""
    evaluated = [row for row in rows if row.get("eval_success") is not None]
    if len(evaluated) < 2:
        return ""
    start, last = evaluated[0], evaluated[-1]
    n_a, n_b = start.get("eval_episodes", eval_episodes), last.get("eval_episodes", eval_episodes)
    a, b = round(start["eval_success"] * n_a), round(last["eval_success"] * n_b)
    line = (f"eval wins: start {a}/{n_a}, round {last['round']} {b}/{n_b}; "
            f"one-sided Fisher exact p = {fisher_one_sided(a, n_a, b, n_b):.3f} (p < 0.05: a measurable rise)")
    if "eval_won_seeds" in start and "eval_won_seeds" in last and n_a == n_b:
        gained, lost, p = paired_sign_test(set(start["eval_won_seeds"]), set(last["eval_won_seeds"]))
        line += f"\npaired by seed: {gained} seeds won only by round {last['round']}, {lost} only by the start; one-sided McNemar exact p = {p:.3f}"
    return line


def print_table(curve_file: Path, eval_episodes: int) -> None:
    rows = [json.loads(line) for line in open(curve_file)]
    decoding = rows[0].get("eval_decoding", "greedy") if rows else "greedy"
    print(f"| round | version | eval success ({decoding}) | eval return | eval invalid | sampled success | approx_kl | clipfrac | expl. var | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        def fmt(key, spec=".3f"):
            value = row.get(key)
            return format(value, spec) if isinstance(value, (int, float)) else "-"
        print(f"| {row['round']} | {row.get('version') or '-'} | {fmt('eval_success', '.1%')} | {fmt('eval_return', '+.2f')} | {fmt('eval_invalid', '.1%')} | "
              f"{fmt('sampled_success', '.1%')} | {fmt('approx_kl', '.4f')} | {fmt('clip_fraction')} | {fmt('explained_variance')} | {fmt('minutes', '.1f')} |")
    print(significance(rows, eval_episodes))


if __name__ == "__main__":
    main()
