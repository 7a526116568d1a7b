"""The next games' PDDL translation done in a worker process while the current episodes are played.

A rollout resets with consecutive seeds (episode k: seed + k, game `seed % n`), so after a reset the
next few games of the split are the ones most likely asked for next. Translating a game never seen
costs 0.1-1.3 s (grounding.py); a worker process (prefetch_worker.py) does it for those games ahead
of time, and the reset that asks for one finds it done, or waits only for the rest of it.

One worker serves every environment of a process (`--num-envs 8` is one loop stepping 8 envs in
one process): it is started by the first environment that prefetches and stopped when the last one
closes or is collected, so N environments cost one import of alfworld and one core, not N. Jobs
wait in this process and go to the worker one at a time, so what a closed environment queued is
dropped without stopping the worker that the others still use.

Why a process: the translation is pure Python that, in a thread, would hold the GIL the episode's
steps need, and fast-downward's translator swaps sys.stdout and sys.argv for the whole process while
it runs. Why `python -m` and not multiprocessing: spawn re-imports the user's main script in the
child (running it again where it lacks a `__main__` guard), and a daemonic process (gymnasium's
AsyncVectorEnv) may not start multiprocessing children. Only where the work happens changes: the
worker computes the same translation from the same text, and a game not prefetched (or whose
worker failed) is translated at reset as before.
"""
from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
import threading
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vlm_agent.envs.alfworld.engine import grounding
from vlm_agent.envs.alfworld.engine.games import UnplayableGame, read_game, report

WORKER = "vlm_agent.envs.alfworld.engine.prefetch_worker"


@dataclass
class _Job:
    message: bytes  # the pickled (job id, game file, cache path) the worker reads
    future: Future = field(default_factory=Future)
    owners: set[int] = field(default_factory=set)  # the Prefetchers that want it


class SharedWorker:
    """The worker process of this process's environments: a queue of jobs, sent one at a time."""

    def __init__(self) -> None:
        # Started now: its imports (about a second) overlap the environments' construction and first episode.
        self.process = subprocess.Popen([sys.executable, "-m", WORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
        self.users = 0  # Prefetchers holding it; guarded by _LOCK
        # Reentrant: a Prefetcher collected by the cycle collector lets go in whatever thread holds it.
        self._lock = threading.RLock()  # guards what follows (the reader thread completes jobs)
        self._jobs: dict[str, _Job] = {}  # key -> job, queued or sent and not answered yet
        self._queue: deque[str] = deque()
        self._sent: str | None = None  # the key the worker is translating
        self._ready = False  # the worker finished its imports
        self._stopped = False
        self._ids = itertools.count()
        self._reader = threading.Thread(target=self._read_answers, name="alfworld-prefetch", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._stopped

    def submit(self, key: str, game_file: str, owner: int) -> Future | None:
        """The future of the key's translation, queued if new; None once the worker has stopped."""
        with self._lock:
            if self._stopped:
                return None
            job = self._jobs.get(key)
            if job is None:
                message = pickle.dumps((next(self._ids), game_file, str(grounding.cache_path(key))))
                job = self._jobs[key] = _Job(message)
                self._queue.append(key)
            job.owners.add(owner)
            self._send_next()
            return job.future

    def future(self, key: str) -> Future | None:
        """The future of the key's job, while it is queued or being translated."""
        with self._lock:
            job = self._jobs.get(key)
            return None if job is None else job.future

    def wanted(self, key: str, future: Future) -> bool:
        """Whether some Prefetcher still waits for this job."""
        with self._lock:
            job = self._jobs.get(key)
            return job is not None and job.future is future and bool(job.owners)

    def drop(self, owner: int) -> None:
        """Forget what the owner asked for: a queued job nobody else wants is cancelled.

        The job being translated finishes (into the disk cache) whoever wanted it.
        """
        with self._lock:
            for key, job in list(self._jobs.items()):
                job.owners.discard(owner)
                if not job.owners and key != self._sent:
                    job.future.cancel()
                    del self._jobs[key]

    def stop(self) -> None:
        """Kill the worker (queued translations are not worth waiting for); every job ends failed or cancelled."""
        with self._lock:
            self._stopped = True
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        if threading.current_thread() is not self._reader:
            self._reader.join()

    def _send_next(self) -> None:
        """With the lock held: give the idle, ready worker the oldest job still wanted."""
        while self._ready and self._sent is None and self._queue and not self._stopped:
            key = self._queue.popleft()
            job = self._jobs.get(key)
            if job is None or not job.future.set_running_or_notify_cancel():
                continue  # dropped by its owners
            try:
                self.process.stdin.write(job.message)
                self.process.stdin.flush()
            except OSError:  # the worker is gone; the reader meets its end and fails the rest
                del self._jobs[key]
                job.future.set_exception(RuntimeError("the prefetch worker stopped"))
                self._stopped = True
                return
            self._sent = key

    def _read_answers(self) -> None:
        """The reader thread: completes each job as its answer arrives, fails or cancels the rest at the end.

        It holds the worker, never a Prefetcher, so an environment dropped without close() is collected.
        """
        try:
            pickle.load(self.process.stdout)  # "ready": the worker's imports are done
            with self._lock:
                self._ready = True
                self._send_next()
            while True:
                _, key, result = pickle.load(self.process.stdout)
                with self._lock:
                    expected, self._sent = self._sent, None
                    job = self._jobs.pop(expected)
                    self._send_next()
                if key is None:
                    job.future.set_exception(result)
                elif key != expected:  # the file changed since it was queued
                    job.future.set_exception(RuntimeError("the game file changed while it was prefetched"))
                else:
                    job.future.set_result(result)
        except Exception:  # EOF: the worker stopped (or sent something unreadable)
            pass
        finally:
            with self._lock:
                self._stopped = True
                left = list(self._jobs.values())
                self._jobs.clear()
                self._queue.clear()
            for job in left:
                if not job.future.cancel():  # the job sent is running and cannot be cancelled
                    job.future.set_exception(RuntimeError("the prefetch worker stopped"))


_LOCK = threading.RLock()  # guards _CURRENT and every SharedWorker.users (reentrant for the same reason)
_CURRENT: SharedWorker | None = None  # the worker the next Prefetcher joins


def _acquire() -> SharedWorker:
    global _CURRENT
    with _LOCK:
        if _CURRENT is None or not _CURRENT.alive:  # a dead worker stays with its users until they let go
            _CURRENT = SharedWorker()
        _CURRENT.users += 1
        return _CURRENT


def _release(worker: SharedWorker, owner: int) -> None:
    """A Prefetcher lets go (close() or garbage collection): its queued jobs go, the last user stops the worker."""
    global _CURRENT
    worker.drop(owner)
    with _LOCK:
        worker.users -= 1
        last = worker.users == 0
        if last and _CURRENT is worker:
            _CURRENT = None
    if last:
        worker.stop()


_OWNERS = itertools.count()


class Prefetcher:
    """One environment's share of the process's worker: it schedules games and lets go on close()."""

    def __init__(self) -> None:
        self.worker = _acquire()
        self.owner = next(_OWNERS)
        self._mine: dict[str, Future] = {}
        # Holds the worker, not self: an environment dropped without close() is collected and lets go.
        self._finalizer = weakref.finalize(self, _release, self.worker, self.owner)

    @property
    def process(self) -> subprocess.Popen:
        return self.worker.process

    @property
    def active(self) -> bool:
        return self._finalizer.alive

    def schedule(self, game_files: Iterable[str | Path]) -> None:
        """Queue the translation of each game that is neither translated nor queued (joining a job queued by another)."""
        if not self.active:
            return
        grounding.collect_finished()
        self._mine = {key: future for key, future in self._mine.items() if grounding.IN_FLIGHT.get(key) is future}
        for game_file in game_files:
            try:
                game = read_game(game_file)
            except UnplayableGame:
                continue  # the reset that meets it names and drops it
            key = grounding.game_key(game.domain, game.problem)
            if grounding.is_known(key) and grounding.IN_FLIGHT.get(key, False) is not self.worker.future(key):
                continue  # in memory, or in flight in a worker that stopped (the reset redoes it if it failed)
            future = self.worker.submit(key, str(game_file), self.owner)
            if future is None:
                report("ALFWorld games are translated at reset, not ahead (the prefetch worker stopped)")
                self.close()
                return
            grounding.IN_FLIGHT[key] = self._mine[key] = future

    def close(self) -> None:
        """Let go of the worker (stopped with its last user); what it finished is kept in the memory cache.

        Nothing that only this environment wanted stays in flight: its queued jobs are cancelled, and
        the one being translated, if any, finishes unread.
        """
        self._finalizer()
        grounding.collect_finished()
        for key, future in self._mine.items():
            if grounding.IN_FLIGHT.get(key) is future and not self.worker.wanted(key, future):
                del grounding.IN_FLIGHT[key]
        self._mine = {}


def start_prefetcher() -> Prefetcher | None:
    """A Prefetcher on this process's worker, or None (games are then translated at reset) where none can start."""
    try:
        return Prefetcher()
    except OSError as error:
        report(f"ALFWorld games are translated at reset, not ahead (no prefetch worker: {error})")
        return None
