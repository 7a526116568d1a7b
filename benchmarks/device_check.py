"""Device check: play -> finetune (LoRA and full) -> eval with a tiny random model on a GPU in bf16.

It runs the commands a user runs, on the device they name, and checks what breaks first when a
model leaves the CPU: every tensor on the right device, the weights in the asked dtype, a PPO
update whose first ratio is 1 (re-scoring on the GPU reproduces the log-probs acting logged on
the GPU), versions that load again. The result goes to DEVICE_CHECK.json under --out.

    python benchmarks/device_check.py                 # needs CUDA: cuda, bf16
    python benchmarks/device_check.py --dtype fp32    # the same in fp32 (ratio within 1e-4)
    python benchmarks/device_check.py --dry-run       # the same steps on this CPU in fp32: checks the script itself

Without CUDA and without --dry-run it refuses in one line (exit 2).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

# The ratio of the first minibatch is exp(new - old log-prob of a whole answer): exactly 1 in fp32 up to
# kernel noise; bf16 rounds each token's log-prob by about 1e-2, and answers hold tens of tokens.
RATIO_TOLERANCE = {"fp32": 1e-4, "bf16": 0.1}
ENV = "numberline"


def tiny_model(out: Path) -> Path:
    """A ~1M-parameter random Idefics3 model with a tokenizer trained on expert text (seconds, offline)."""
    from vlm_agent.agent.model_init import ModelSize, build_model, build_processor
    from vlm_agent.agent.tokenizer_training import train_tokenizer
    from vlm_agent.runtime.corpus import expert_texts

    size = ModelSize(text_hidden=64, text_layers=2, text_heads=2, text_kv_heads=1, text_intermediate=128, vision_hidden=32,
                     vision_layers=1, vision_heads=2, vision_intermediate=64, image_size=64, patch_size=16, scale_factor=2,
                     vocab_size=600)
    processor = build_processor(train_tokenizer(list(expert_texts(episodes=3)), size.vocab_size), size)
    model = build_model(processor.tokenizer, size, seed=0)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def cli(*args: str) -> None:
    """`vlm-agent ARGS` in this process; a non-zero exit fails the check."""
    from vlm_agent.cli.main import app

    try:
        app(list(args), standalone_mode=False)
    except SystemExit as done:
        if done.code:
            raise RuntimeError(f"vlm-agent {' '.join(args[:2])} exited with {done.code}") from None


def finetune(model: Path, logs: Path, out: Path, lora_r: int, device_options) -> dict:
    """One PPO update (the API `vlm-agent finetune` runs), returning what the check looks at."""
    from vlm_agent.runtime.checkpoints import load_policy
    from vlm_agent.training.finetune import PPOTrainer, finetune_once
    from vlm_agent.training.ppo_config import PPOConfig

    trainer = PPOTrainer(model, out, PPOConfig(update_epochs=1, minibatch_size=4, lora_r=lora_r, lr=1e-4), device=device_options)
    devices = {str(p.device) for p in trainer.policy.parameters()}
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in trainer.policy.model.parameters()})
    started = time.perf_counter()
    ref, metrics = finetune_once(trainer, [logs], warn=print)
    seconds = time.perf_counter() - started
    trainer.close()
    reloaded = load_policy(out)  # a published version loads again (on the CPU, as any user would first try)
    return {"version": ref.name, "devices": sorted(devices), "model_dtypes": dtypes, "seconds": round(seconds, 2),
            "first_ratio_error": metrics["first_minibatch"]["max_abs_ratio_minus_1"], "samples": metrics["samples"],
            "policy_loss": metrics["policy_loss"], "reloaded": reloaded.policy_version == ref.name}


def check(out: Path, device: str, dtype: str) -> dict:
    from vlm_agent.agent.device_config import DeviceConfig

    device_options = DeviceConfig(device=device, dtype=dtype)
    flags = ["--device", device, "--dtype", dtype]
    model = tiny_model(out / "model")
    started = time.perf_counter()
    cli("play", ENV, "--model", str(model), "--episodes", "8", "--num-envs", "8", "--headless", "--temperature", "1.0",
        "--max-new-tokens", "24", "--log-dir", str(out / "logs"), *flags)
    result = {"device": device, "dtype": dtype, "torch": torch.__version__, "play_seconds": round(time.perf_counter() - started, 2)}
    if device.startswith("cuda"):
        result["gpu"] = torch.cuda.get_device_name(torch.device(device))
    result["lora"] = finetune(model, out / "logs", out / "lora", 8, device_options)
    result["full"] = finetune(model, out / "logs", out / "full", 0, device_options)
    started = time.perf_counter()
    cli("eval", ENV, "--model", str(out / "full"), "--episodes", "8", "--num-envs", "8", "--max-new-tokens", "24",
        "--log-dir", str(out / "eval-logs"), "--out", str(out / "eval.json"), *flags)
    result["eval"] = {k: v for k, v in json.loads((out / "eval.json").read_text()).items() if k in ("policy_version", "success_rate", "episodes")}
    result["eval_seconds"] = round(time.perf_counter() - started, 2)
    tolerance = RATIO_TOLERANCE["fp32" if dtype == "fp32" else "bf16"]
    failures = [f"{kind}: first ratio off by {result[kind]['first_ratio_error']:.2e} (tolerance {tolerance:g})"
                for kind in ("lora", "full") if not result[kind]["first_ratio_error"] <= tolerance]
    failures += [f"{kind}: published version did not reload" for kind in ("lora", "full") if not result[kind]["reloaded"]]
    failures += [f"{kind}: parameters on {result[kind]['devices']}, not {device}" for kind in ("lora", "full")
                 if any(not d.startswith(device.split(":")[0]) for d in result[kind]["devices"])]
    result.update(tolerance=tolerance, failures=failures, ok=not failures)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N (default cuda)")
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--dry-run", action="store_true", help="run the same steps on this CPU in fp32")
    parser.add_argument("--out", type=Path, default=None, help="folder for the model, logs, versions and DEVICE_CHECK.json")
    args = parser.parse_args(argv)
    device, dtype = ("cpu", "fp32") if args.dry_run else (args.device, args.dtype)
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"device check: no CUDA device here (torch {torch.__version__}); run it on a CUDA machine, "
              "or pass --dry-run to run the same steps on the CPU in fp32", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="device-check-"))
    out.mkdir(parents=True, exist_ok=True)
    result = check(out, device, dtype)
    (out / "DEVICE_CHECK.json").write_text(json.dumps(result, indent=2) + "\n")
    for kind in ("lora", "full"):
        r = result[kind]
        print(f"{kind:5s} {r['version']}: first ratio off by {r['first_ratio_error']:.2e} on {','.join(r['devices'])} "
              f"({','.join(r['model_dtypes'])}), {r['samples']} samples in {r['seconds']} s")
    print(f"eval {result['eval']}; {'OK' if result['ok'] else 'FAILED: ' + '; '.join(result['failures'])}  ({out / 'DEVICE_CHECK.json'})")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
