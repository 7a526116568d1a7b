"""Rollout workers on Ray: N actors, each with its environments and a policy replica, logging into one folder.

The log folder stays the contract between acting and learning. Each worker is a `PlaySession`
(loop + episode writer + stats) in its own Ray actor, writing its own run folder inside one shared
rollout folder and loading the checkpoint root's newest version between episodes, as `play
--reload` does. Ray restarts a worker that dies (`max_restarts`) and re-runs the call in flight on
the new process (`max_task_retries=-1`); the new incarnation opens a new run folder with seeds no
earlier incarnation played, so a finished episode is never lost and never replayed. The episode
files are atomic, so the dead worker's unfinished episodes leave nothing behind; they are counted
from its run summary, which a worker keeps current at every episode start.

Ray is an optional dependency: it is imported only when a pool starts.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.core.atomic import write_json_atomic
from vlm_agent.runtime.episode_log import EPISODES_DIR, MANIFEST, new_run_id
from vlm_agent.runtime.loop import LoopConfig

SEED_BLOCK = 1_000_000  # starts one worker incarnation may play; incarnations get disjoint blocks
SUMMARY = "summary.json"
RUNNING = "running"  # a run summary's status while its worker plays (a run that ends writes its final summary)
RAY_MISSING = "--rollout-workers needs Ray, an optional dependency (the extra 'ray'): pip install 'ray>=2.9'"


@dataclass
class WorkersConfig:
    rollout_workers: int = field(default=0, metadata={
        "help": "Ray actors that play and log episodes while this process trains on them (0: play and train in turn, in "
                "this process).", "min": 0})
    ray_address: Optional[str] = field(default=None, metadata={
        "help": "Ray cluster to run the workers on (e.g. auto, or HOST:6379 of `ray start --head`); default: start a local Ray."})
    worker_cpus: float = field(default=1.0, metadata={"help": "CPUs Ray reserves for each worker (its torch threads).", "min": 0.0})
    worker_gpus: float = field(default=0.0, metadata={
        "help": "GPU share of each worker (0.25: four workers on one GPU; 0: CPU).", "min": 0.0})
    worker_restarts: int = field(default=3, metadata={
        "help": "How often Ray restarts a worker that died before the run goes on without it.", "min": 0})


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker plays: the same loop settings and agent, each with its own seeds and run folder.

    `model` is a checkpoint root (reloaded between episodes when `reload`) or a model folder;
    `folder` the shared rollout folder the workers' run folders go into.
    """

    loop: LoopConfig
    folder: Path
    workers: int = 1
    agent: str = "vlm"
    model: Optional[Path] = None
    reload: bool = False
    sampling: SamplingConfig = SamplingConfig()
    threads: int = 1  # torch threads of one worker (its share of the CPUs)
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerReport:
    """What one worker incarnation did: its run folder, its episodes and steps, the version it plays now."""

    index: int
    incarnation: int
    run_dir: str
    episodes_written: int
    env_steps: int
    seconds: float  # time spent stepping in the last `run` call
    policy_version: str


def worker_seed(base: int, index: int, incarnation: int, workers: int) -> int:
    """The first seed of a worker incarnation: blocks of SEED_BLOCK starts, none shared by two incarnations."""
    return base + SEED_BLOCK * (incarnation * workers + index)


def earlier_incarnations(folder: Path, index: int) -> int:
    """How many run folders worker `index` already opened in `folder` (its restarts so far)."""
    return sum(1 for _, rollout in _worker_runs(folder) if rollout.get("worker") == index)


def _worker_runs(folder: Path):
    for manifest in sorted(Path(folder).glob(f"*/{MANIFEST}")):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        rollout = data.get("rollout") if isinstance(data, dict) else None  # a damaged manifest is skipped, not fatal
        if isinstance(rollout, dict):
            yield manifest.parent, rollout


class RolloutWorker:
    """One worker: a play session over its own environments, logging into its own run folder.

    A plain class: Ray runs it as an actor (`WorkerPool`), a benchmark or a test can run it here.
    Constructing it again after a crash (what Ray does on restart) opens the next incarnation.
    """

    def __init__(self, spec: WorkerSpec, index: int):
        os.environ.setdefault("VLM_AGENT_THREADS", str(spec.threads))  # read by the policy when it loads
        from vlm_agent.runtime.agent_factory import make_agent
        from vlm_agent.runtime.play import PlaySession

        self.index = index
        self.incarnation = earlier_incarnations(spec.folder, index)
        seed = worker_seed(spec.loop.seed, index, self.incarnation, spec.workers)
        loop = replace(spec.loop, seed=seed, episodes=SEED_BLOCK * spec.loop.repeats)  # played until stopped
        self.agent = make_agent(spec.agent, model=spec.model, seed=seed, sampling=spec.sampling)
        rollout = {"worker": index, "incarnation": self.incarnation, "workers": spec.workers, "pid": os.getpid(),
                   "host": socket.gethostname()}
        model = {"model": str(spec.model)} if spec.model is not None else {}
        manifest = {**model, **spec.manifest, "rollout": rollout}
        self.session = PlaySession(loop, self.agent, spec.folder, f"{_env_name(spec.loop.env_id)}-w{index}", manifest)
        self.session.writer.open()  # the folder marks this incarnation (and keeps its summary) before any episode ends
        self._watcher = None
        if spec.reload:
            from vlm_agent.runtime.checkpoint_watch import CheckpointWatcher

            self._watcher = CheckpointWatcher(self.agent, spec.model)
        self.session.loop.before_episode = self._before_episode
        self._stop = threading.Event()
        self._seconds = 0.0

    def _before_episode(self) -> None:
        if self._watcher is not None:
            self._watcher()
        # Kept current so that if this process dies, its unfinished episodes can be counted from disk.
        write_json_atomic(self.session.run_dir / SUMMARY, {
            "run_id": self.session.run_id, "status": RUNNING, "episodes_started": self.session.loop.episodes_started + 1})

    def ready(self) -> str:
        """The run folder, once the worker is built (its model loaded, its environments made)."""
        return str(self.session.run_dir)

    def run(self, max_seconds: float | None = None) -> WorkerReport:
        """Play until `stop()` (or `max_seconds`), then end the session: in-flight episodes are dropped and counted."""
        loop = self.session.loop
        started = time.perf_counter()
        while not self._stop.is_set() and not loop.finished:
            if max_seconds is not None and time.perf_counter() - started >= max_seconds:
                break
            if not loop.step():
                break
        self._seconds = time.perf_counter() - started
        self.session.finish()
        return self.report()

    def stop(self) -> None:
        """Ask `run` to return after the step in flight (Ray calls this on a second thread of the actor)."""
        self._stop.set()

    def report(self) -> WorkerReport:
        return WorkerReport(self.index, self.incarnation, str(self.session.run_dir), self.session.writer.episodes_written,
                            self.session.stats.steps, self._seconds, str(self.agent.policy_version))


@dataclass
class RolloutTally:
    """A rollout folder's account, read from its run folders: what was kept, what was dropped and why."""

    workers: int = 0
    incarnations: int = 0
    episodes_written: int = 0
    lost_with_dead_workers: int = 0  # started by a worker that died before finishing them
    unfinished_at_stop: int = 0  # in flight when the run ended
    runs: list[dict] = field(default_factory=list)

    @property
    def restarts(self) -> int:
        return self.incarnations - self.workers


def tally(folder: Path) -> RolloutTally:
    """Count each worker run's episode files; a run still marked running belongs to a worker that died."""
    result = RolloutTally()
    indices = set()
    for run_dir, rollout in _worker_runs(folder):
        written = sum(1 for _ in (run_dir / EPISODES_DIR).glob("*.parquet"))
        summary = _read_json(run_dir / SUMMARY)
        died = not summary or summary.get("status") == RUNNING  # no summary: it died before its first episode
        if died:
            dropped = max(0, summary.get("episodes_started", 0) - written)
            result.lost_with_dead_workers += dropped
        else:
            dropped = summary.get("episodes_dropped", 0)
            result.unfinished_at_stop += dropped
        indices.add(rollout.get("worker"))
        result.incarnations += 1
        result.episodes_written += written
        result.runs.append({"run": run_dir.name, **rollout, "episodes_written": written, "dropped": dropped, "died": died})
    result.workers = len(indices)
    return result


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def import_ray():
    """Ray, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def new_rollout_folder(log_dir: Path, env_id: str) -> Path:
    """LOG_DIR/<date>-<env>-rollouts-<id>: where one run's workers put their run folders."""
    return Path(log_dir) / new_run_id(_env_name(env_id), "rollouts")


def _env_name(env_id: str) -> str:
    return env_id.split("/")[-1].split("-")[0].lower()  # vlm_agent/NumberLine-v0 -> numberline, as play names runs


class WorkerPool:
    """`config.rollout_workers` RolloutWorker actors on a local Ray or a cluster, playing `spec` until closed.

    Start with `start()`; `check()` (cheap, call it often) raises once every worker is gone for good;
    `close()` stops them, waits for their summaries and returns the folder's tally.
    """

    def __init__(self, spec: WorkerSpec, config: WorkersConfig, warn: Callable[[str], None] = lambda line: None):
        self.ray = import_ray()
        # Absolute paths: a worker on another node (or in another working directory) must find the same folders.
        model = Path(spec.model).resolve() if spec.model is not None else None
        self.spec = replace(spec, folder=Path(spec.folder).resolve(), model=model, workers=config.rollout_workers,
                            threads=max(1, int(config.worker_cpus)))
        self.config = config
        self.warn = warn
        self._started_ray = False
        self._actors: list = []
        self._runs: dict = {}  # run ObjectRef -> worker index
        self._gone: dict[int, str] = {}  # index -> why it is gone for good

    def start(self) -> None:
        """Start the workers playing, each until `close()`."""
        self._launch()
        self._runs = {actor.run.remote(): index for index, actor in enumerate(self._actors)}

    def run_for(self, seconds: float) -> list[WorkerReport]:
        """Build every worker, then have all play for `seconds` together (a benchmark's window: start-up not in it)."""
        self._launch()
        self.ray.get([actor.ready.remote() for actor in self._actors])
        return self.ray.get([actor.run.remote(seconds) for actor in self._actors])

    def _launch(self) -> None:
        ray, config = self.ray, self.config
        if not ray.is_initialized():
            import logging

            if config.ray_address is None:
                # Ray runs its workers at nice 15, as background work; here they are the job, and on a busy
                # machine nice 15 starves them (benchmarks/ray_rollout.py). $RAY_worker_niceness still wins.
                os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            self._started_ray = True
        self._check_capacity()
        remote = ray.remote(RolloutWorker).options(
            num_cpus=config.worker_cpus, num_gpus=config.worker_gpus, max_restarts=config.worker_restarts, max_task_retries=-1,
            max_concurrency=2,  # `stop` must reach a worker while `run` is playing
        )
        self._actors = [remote.remote(self.spec, index) for index in range(config.rollout_workers)]

    def _check_capacity(self) -> None:
        """Actors that ask for more than the cluster has wait forever: say so instead (locally), or warn (a cluster may grow)."""
        resources = self.ray.cluster_resources()
        config, n = self.config, self.config.rollout_workers
        for name, share, flag in (("CPU", config.worker_cpus, "--worker-cpus"), ("GPU", config.worker_gpus, "--worker-gpus")):
            have = resources.get(name, 0.0)
            if n * share > have + 1e-9:
                line = f"{n} workers x {share:g} {name} need {n * share:g} {name}s; the Ray cluster has {have:g} (lower {flag} or --rollout-workers)"
                if self.config.ray_address is None:
                    raise ValueError(line)
                self.warn(line + "; waiting for the cluster to grow")

    def check(self) -> None:
        """Note workers that are gone for good (restarts spent, or an error); ValueError when none is left."""
        if not self._runs:
            return
        done, _ = self.ray.wait(list(self._runs), num_returns=len(self._runs), timeout=0)
        for ref in done:
            index = self._runs.pop(ref)
            try:
                self.ray.get(ref)
                why = "stopped playing"  # its loop ran out of starts
            except self.ray.exceptions.RayError as error:
                why = _last_line(error)
            self._gone[index] = why
            self.warn(f"rollout worker {index} is gone: {why}")
        if len(self._gone) == len(self._actors):
            raise ValueError(f"every rollout worker is gone (worker 0: {self._gone.get(0, '?')})")

    @property
    def alive(self) -> int:
        return len(self._actors) - len(self._gone)

    def close(self, timeout: float = 300.0) -> RolloutTally:
        """Stop every worker after its step in flight, wait for its run summary, and tally the folder."""
        ray = self.ray
        try:
            for index, actor in enumerate(self._actors):
                if index not in self._gone:
                    actor.stop.remote()
            if self._runs:
                # A worker restarting right now comes back, gets its stop (retried), and ends cleanly.
                ready, _ = ray.wait(list(self._runs), num_returns=len(self._runs), timeout=timeout)
                for ref in ready:
                    try:
                        ray.get(ref)
                    except ray.exceptions.RayError as error:
                        self._gone.setdefault(self._runs[ref], _last_line(error))
                self._runs.clear()
            for actor in self._actors:
                ray.kill(actor, no_restart=True)
        finally:
            if self._started_ray:
                ray.shutdown()
        result = tally(self.spec.folder)
        if self.spec.folder.is_dir():  # not when no worker got as far as its run folder
            write_json_atomic(self.spec.folder / SUMMARY, {**asdict(result), "restarts": result.restarts})
        return result


def _last_line(error: BaseException) -> str:
    """The line that says what happened, out of a Ray error's traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
