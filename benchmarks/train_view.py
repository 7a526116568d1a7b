"""Does the training view slow training? PPO update time with and without the view attached, as a ratio, in one run.

The same trainer makes updates on the same episodes (a version lag large enough that none go
stale), in alternating blocks: bare (the update loop alone, on a worker thread, as the view runs
it) and under the view (TrainApp running headless on the main thread, drawing every update's
curves). Block order alternates so drift in the machine's load hits both alike; the ratio is
of the medians.

    python benchmarks/train_view.py                       # the shipped model, 8 NumberLine episodes
    python benchmarks/train_view.py --model PATH --updates 6 --blocks 4
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def timed_updates(trainer, episodes, count: int, hooks=None) -> list[float]:
    """`count` updates + publishes, each timed; reported through `hooks` as `finetune --watch` reports them."""
    seconds = []
    for _ in range(count):
        if hooks is not None:
            hooks.on_phase("updating", len(episodes))
        started = time.perf_counter()
        metrics = trainer.update(episodes)
        ref = trainer.publish(metrics)
        seconds.append(time.perf_counter() - started)
        if hooks is not None:
            hooks.on_update(ref, metrics)
    return seconds


def bare_block(trainer, episodes, count: int) -> list[float]:
    result: list[float] = []
    thread = threading.Thread(target=lambda: result.extend(timed_updates(trainer, episodes, count)))
    thread.start()
    thread.join()
    return result


def view_block(trainer, episodes, count: int, size=(120, 40)) -> list[float]:
    from vlm_agent.tui.train_app import TrainApp
    from vlm_agent.tui.train_history import TrainHistory

    result: list[float] = []
    app = None

    def job(hooks):
        app.call_from_thread(lambda: None)  # returns once the app runs its loop: start-up is not an update's cost
        time.sleep(0.3)  # and its first frame is drawn
        result.extend(timed_updates(trainer, episodes, count, hooks))
        time.sleep(0.2)  # let the last update's redraw happen before the app goes
        app.call_from_thread(app.exit)

    app = TrainApp(TrainHistory(start_version=trainer.version), job, title="benchmark")
    app.run(headless=True, size=size)
    app.stopped.wait()
    if app.error is not None:
        raise app.error
    return result


def measure(trainer, episodes, updates: int, blocks: int) -> dict:
    """Median update seconds bare and under the view, their ratio, and every sample."""
    bare, viewed = [], []
    for block in range(blocks):
        order = (bare_block, view_block) if block % 2 == 0 else (view_block, bare_block)
        for run in order:
            (bare if run is bare_block else viewed).extend(run(trainer, episodes, updates))
    bare_median, view_median = statistics.median(bare), statistics.median(viewed)
    return {"bare_seconds": bare_median, "view_seconds": view_median, "ratio": view_median / bare_median,
            "bare_samples": bare, "view_samples": viewed}


def view_cpu_share(seconds: float = 10.0, size=(120, 40)) -> float:
    """CPU the view's process burns while an update runs, as a share of one core: the job only sleeps, so all of it is the view's.

    Load-proof where the wall-clock ratio is not: on a shared machine two runs of the same update
    differ by more than the view could cost.
    """
    from vlm_agent.tui.train_app import TrainApp
    from vlm_agent.tui.train_history import TrainHistory, UpdatePoint

    history = TrainHistory(start_version="v000001")
    for u in range(1, 9):  # curves and tables with data in them, as mid-run
        history.add(UpdatePoint.from_metrics(f"v{u + 1:06d}", {"trained_from": f"v{u:06d}", "approx_kl": 0.01 * u, "value_loss": 1.0 / u,
                                                                "success_rate": 0.1 * u, "mean_return": u, "samples": 100}, u, 100.0 * u))
    share = []
    app = None

    def job(hooks):
        app.call_from_thread(lambda: None)
        time.sleep(1.0)
        hooks.on_phase("updating", 0)
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(seconds)
        share.append((time.process_time() - cpu) / (time.monotonic() - wall))
        app.call_from_thread(app.exit)

    app = TrainApp(history, job, title="benchmark")
    app.run(headless=True, size=size)
    app.stopped.wait()
    return share[0]


def play_episodes(model: Path | None, count: int, log_dir: Path, max_new_tokens: int):
    from vlm_agent.runtime.agent_factory import make_agent
    from vlm_agent.runtime.loop import LoopConfig
    from vlm_agent.runtime.play import PlaySession
    from vlm_agent.training.finetune import read_logs
    from vlm_agent.agent.sampling_config import SamplingConfig

    agent = make_agent("vlm", model=model, seed=0, sampling=SamplingConfig(temperature=1.0, max_new_tokens=max_new_tokens))
    session = PlaySession(LoopConfig("vlm_agent/NumberLine-v0", episodes=count, num_envs=min(count, 8), seed=0), agent, log_dir, "numberline")
    session.loop.run()
    session.finish()
    return read_logs([log_dir], print)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="Model folder (default: the shipped model).")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--updates", type=int, default=4, help="Updates per block.")
    parser.add_argument("--blocks", type=int, default=4, help="Blocks of each kind, alternating.")
    args = parser.parse_args()

    from vlm_agent.runtime.agent_factory import model_path
    from vlm_agent.training.finetune import PPOTrainer
    from vlm_agent.training.ppo_config import PPOConfig

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        episodes = play_episodes(args.model, args.episodes, scratch / "logs", args.max_new_tokens)
        trainer = PPOTrainer(model_path(args.model), scratch / "ckpt", PPOConfig(update_epochs=1, max_version_lag=10_000))
        result = measure(trainer, episodes, args.updates, args.blocks)
        trainer.close()
    print(f"the view's CPU while an update runs: {100 * view_cpu_share():.2f}% of one core")
    print(f"{len(result['bare_samples'])} updates each on {len(episodes)} episodes; median update {result['bare_seconds']:.3f} s bare, {result['view_seconds']:.3f} s with the view: "
          f"ratio {result['ratio']:.3f}")


if __name__ == "__main__":
    main()
