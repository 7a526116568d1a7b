"""Versioned checkpoints with an atomically switched `latest` pointer, written by one trainer at a time.

Layout of a checkpoint root:
    <root>/versions/v000001/      a complete Hugging Face folder (+ value head, training state)
    <root>/versions/v000001/vlm_agent_checkpoint.json   version, parent, lineage, created (and the
                                  model's own decoding defaults, carried from the model it started from)
    <root>/LATEST                 the name of the newest complete version
    <root>/LOCK                   who claims the root (pid, host, command, start), while they run
A version is built in a temp folder and renamed into place; LATEST is switched only after that,
so a reader following LATEST never sees a half-written checkpoint.

Two writers on one root would fork its history (each version naming as parent whatever was LATEST
when it was published, not what it was trained from). So a trainer claims the root for its run
(`CheckpointStore.claim`), and `publish` is a compare-and-swap on LATEST: it refuses when LATEST
is no longer the version this store started from or last published.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from vlm_agent.core.atomic import PARTIAL_SUFFIX, fsync_dir, write_atomic
from vlm_agent.core.finite_json import finite_or_none
from vlm_agent.core.write_errors import WriteFailed, disk_full, writing

LATEST = "LATEST"
VERSIONS = "versions"
META = "vlm_agent_checkpoint.json"
DECODING = "decoding"  # META's key for a model's own decoding defaults, e.g. {"constrain_actions": true}
LOCK = "LOCK"
SWITCH_LOCK = ".LATEST.lock"  # held by publish from the LATEST check to its switch (milliseconds)


class RootClaimedError(ValueError):
    """Another process holds the claim on this checkpoint root."""


class LatestMovedError(ValueError):
    """LATEST moved under a writer since it read it: publishing would fork the version history."""


@dataclass(frozen=True)
class CheckpointRef:
    root: Path
    name: str

    @property
    def path(self) -> Path:
        return self.root / VERSIONS / self.name

    @property
    def number(self) -> int:
        return int(self.name.lstrip("v"))

    def meta(self) -> dict:
        return json.loads((self.path / META).read_text())


@dataclass(frozen=True)
class Holder:
    """Who claims a root, as recorded in its LOCK file."""

    pid: int
    host: str
    command: str
    started: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.started} ({self.command})"


class RootClaim:
    """An exclusive claim on a checkpoint root; released by `release()` or leaving its `with` block.

    The claim is an flock on <root>/LOCK, so the kernel drops it when the holder dies however it
    dies (SIGKILL, out of memory): the lock a crash leaves is stale by construction and the next
    claim takes it over, with `took_over` saying whose it was. No pid test is needed, so a reused
    pid cannot keep a dead run's lock alive. (Children forked while it is held share it until they
    exit.)
    """

    def __init__(self, root: Path, fd: int, holder: Holder, took_over: Holder | None):
        self.root, self.holder, self.took_over = root, holder, took_over
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty LOCK: released cleanly (a crash leaves its holder in it)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RootClaim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class CheckpointStore:
    """Publishes and finds versions under one root folder.

    `expected_latest` is the version the next publish replaces as LATEST: what LATEST was when the
    store was opened or claimed, then each version it publishes. A trainer opens (or claims) its
    store where it reads the version it starts from.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.expected_latest: str | None = self._pointer()

    def _pointer(self) -> str | None:
        pointer = self.root / LATEST
        return pointer.read_text().strip() if pointer.exists() else None

    def latest(self) -> CheckpointRef | None:
        name = self._pointer()
        if name is None:
            return None
        ref = CheckpointRef(self.root, name)
        if not (ref.path / META).exists():
            raise FileNotFoundError(f"{self.root / LATEST}: points at {name}, which is not a complete checkpoint")
        return ref

    def versions(self) -> list[CheckpointRef]:
        folder = self.root / VERSIONS
        if not folder.is_dir():
            return []
        refs = [CheckpointRef(self.root, p.name) for p in folder.iterdir() if p.name.startswith("v") and (p / META).exists()]
        return sorted(refs, key=lambda r: r.number)

    def claim(self, command: str | None = None) -> RootClaim:
        """Claim the root for this process (use as a context manager); RootClaimedError naming the
        holder if another process has it. `command` defaults to this process's command line.

        Claim before reading the version to start from: the claim restarts `expected_latest` at
        what LATEST is once no other writer can move it.
        """
        with writing(self.root):  # a read-only --out fails here, before any training
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RootClaimedError(
                f"{self.root}: in use by {holder or 'another process'}; one trainer per checkpoint root:"
                " wait for it to finish or choose another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        took_over = _read_holder(fd)  # a holder that released would have emptied the file
        holder = Holder(os.getpid(), socket.gethostname(), command or " ".join(sys.argv), time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(holder)) + "\n").encode(), 0)
        os.fsync(fd)
        self.expected_latest = self._pointer()
        return RootClaim(self.root, fd, holder, took_over)

    def publish(self, save: Callable[[Path], None], meta: dict) -> CheckpointRef:
        """Save a new version with `save(folder)`, then switch LATEST to it.

        LatestMovedError, publishing nothing, if LATEST is no longer `expected_latest` (checked
        before the save, and again under a lock from the check to the switch).
        """
        self._check_latest()
        versions = self.root / VERSIONS
        # The number is taken only at the switch, so the temp name is unique without it.
        temp = versions / f".{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
        with writing(versions):
            versions.mkdir(parents=True, exist_ok=True)
            temp.mkdir()
        try:
            with writing(versions), _disk_full_is_a_write_failure(versions):
                save(temp)
            with writing(versions), _switch_lock(self.root):
                previous = self._check_latest()
                number = (max((r.number for r in self.versions()), default=0)) + 1
                name = f"v{number:06d}"
                full_meta = finite_or_none({
                    "version": name,
                    "parent": previous.name if previous else meta.get("parent"),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    **meta,
                })
                (temp / META).write_text(json.dumps(full_meta, indent=2, sort_keys=True, default=str) + "\n")
                os.replace(temp, versions / name)
                fsync_dir(versions)
                write_atomic(self.root / LATEST, lambda handle: handle.write(f"{name}\n".encode()))
        finally:
            if temp.exists():
                shutil.rmtree(temp)
        self.expected_latest = name
        return CheckpointRef(self.root, name)

    def _check_latest(self) -> CheckpointRef | None:
        """LATEST as a ref, if it is still `expected_latest`; else LatestMovedError."""
        current = self._pointer()
        if current != self.expected_latest:
            raise LatestMovedError(
                f"{self.root}: LATEST is {current or 'gone'}, not {self.expected_latest or 'empty'} as this run found it:"
                " another writer published meanwhile, so this version would name the wrong parent; not published"
                " (one trainer per checkpoint root)"
            )
        return self.latest()

    def clean_partial(self) -> list[Path]:
        """Remove temp folders left by a publish that was killed; return what was removed.

        Call it holding the claim: another writer's publish in progress also looks partial.
        """
        folder = self.root / VERSIONS
        removed = [p for p in folder.glob(f".*{PARTIAL_SUFFIX}")] if folder.is_dir() else []
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed


@contextlib.contextmanager
def _disk_full_is_a_write_failure(folder: Path) -> Iterator[None]:
    """torch and safetensors report a full disk as their own errors (RuntimeError...): name it as the OSError it is."""
    try:
        yield
    except OSError:
        raise
    except Exception as error:
        if not disk_full(folder):
            raise
        raise WriteFailed(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder)) from error


def _read_holder(fd: int) -> Holder | None:
    """The holder recorded in an open LOCK file (None if empty or unreadable: being written)."""
    try:
        return Holder(**json.loads(os.pread(fd, os.fstat(fd).st_size, 0).decode()))
    except (ValueError, TypeError):
        return None


@contextlib.contextmanager
def _switch_lock(root: Path) -> Iterator[None]:
    fd = os.open(root / SWITCH_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def resolve_model_dir(path: Path) -> tuple[Path, str]:
    """A checkpoint root (follows LATEST) or a plain model folder -> (model folder, version name)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model or checkpoint folder")
    if (path / LATEST).exists():
        ref = CheckpointStore(path).latest()
        return ref.path, ref.name
    if (path / META).exists():
        return path, json.loads((path / META).read_text()).get("version", path.name)
    return path, path.name


def recorded_decoding(path: Path) -> dict:
    """The decoding defaults a model folder (or a checkpoint root's LATEST version) records; {} when none.

    `model export --constrain-actions` records them; every version trained from the model carries them.
    """
    model_dir, _ = resolve_model_dir(Path(path))
    meta = model_dir / META
    return dict(json.loads(meta.read_text()).get(DECODING) or {}) if meta.exists() else {}


def decoding_meta(path: Path) -> dict:
    """`{"decoding": ...}` to write into the META of a model made from `path`, or {} when it records none."""
    decoding = recorded_decoding(path)
    return {DECODING: decoding} if decoding else {}


def load_policy(path: Path, constrain_actions: bool | None = None, avoid_repeats: bool | None = None, **kwargs):
    """A checkpoint root (its LATEST version) or a plain model folder, loaded as a VLMPolicy.

    `constrain_actions` and `avoid_repeats` None are the model's own defaults (recorded at export), else off
    (a recorded `avoid_repeats` only with constrained actions): resolved here, once, so the policy and everything downstream (logs, PPO's re-scoring) hold a plain bool.
    The policy's `model_root` is `path` itself (resolved), so its logs name the root, not the version.
    """
    from vlm_agent.agent.policy import VLMPolicy

    model_dir, version = resolve_model_dir(Path(path))
    recorded = recorded_decoding(model_dir)
    if constrain_actions is None:
        constrain_actions = bool(recorded.get("constrain_actions", False))
    if avoid_repeats is None:  # the model's record applies only where the actions are constrained
        avoid_repeats = bool(recorded.get("avoid_repeats", False)) and constrain_actions
    kwargs.setdefault("model_root", str(Path(path).resolve()))
    return VLMPolicy.from_pretrained(model_dir, policy_version=kwargs.pop("policy_version", version),
                                     constrain_actions=constrain_actions, avoid_repeats=avoid_repeats, **kwargs)
