"""Writes each finished episode to its own Parquet file, atomically, plus the run's manifest."""
from __future__ import annotations

import errno
import json
import platform
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq

from vlm_agent.core.atomic import PARTIAL_SUFFIX, remove_dead_partials, write_atomic, write_json_atomic
from vlm_agent.core.write_errors import check_writable, writing
from vlm_agent.runtime.log_schema import SCHEMA_VERSION, record_to_row, rows_to_table
from vlm_agent.runtime.records import StepRecord

MANIFEST = "manifest.json"
EPISODES_DIR = "episodes"
_VERSIONED = ("vlm-agent", "torch", "transformers", "tokenizers", "gymnasium", "alfworld", "textworld", "pyarrow")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def new_run_id(env_name: str, agent_kind: str) -> str:
    """<date>-<time>-<env>-<agent>-<random hex>: sorted by start time, unique (and the writer refuses a taken folder)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{env_name}-{agent_kind}-{uuid.uuid4().hex[:16]}"


class RunFolderTaken(FileExistsError):
    """The run folder holds another run's manifest: a run folder has one writer."""


class EpisodeWriter:
    """Subscriber that buffers steps per episode and writes an episode when its last step arrives.

    An episode is written to a temp name, flushed and renamed, so a crash never leaves half an
    episode and never loses a finished one. Episodes still running at `close()` are dropped and
    counted (a half episode is not training data), unless the user stopped them: `close(keep_unfinished=True)`
    writes each as it stands, its last step marked truncated.

    The run folder and its manifest are made at the first episode (or `open()`), so a run that fails
    before finishing one leaves nothing; the log root is checked for writability here, at once.
    The manifest is created exclusively: a second writer on a run folder fails, never replaces it.
    """

    def __init__(self, run_dir: Path, manifest: dict):
        self.run_dir = Path(run_dir)
        self.episodes_dir = self.run_dir / EPISODES_DIR
        check_writable(self.run_dir.parent)  # the log root: a read-only one fails now, not after the first episode
        self._buffers: dict[str, list[dict]] = {}
        self.episodes_written = 0
        self.episodes_dropped = 0
        self.episodes_kept_unfinished = 0
        self._manifest = {
            "schema_version": SCHEMA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": sys.argv,
            "versions": package_versions(),
            **manifest,
        }
        self.opened = False

    def open(self) -> None:
        """Make the run folder and write its manifest (once); remove temp files dead writers left in the log root."""
        if self.opened:
            return
        with writing(self.run_dir):
            self.episodes_dir.mkdir(parents=True, exist_ok=True)
        try:
            write_json_atomic(self.run_dir / MANIFEST, self._manifest, exclusive=True)
        except FileExistsError:
            raise RunFolderTaken(errno.EEXIST, "another run's folder (a run folder has one writer; its manifest is kept)",
                                 str(self.run_dir)) from None
        self.opened = True
        root = self.run_dir.parent
        candidates = [*root.glob(f"*/.*{PARTIAL_SUFFIX}"), *root.glob(f"*/{EPISODES_DIR}/.*{PARTIAL_SUFFIX}")]
        remove_dead_partials(candidates)

    def on_step(self, record: StepRecord) -> None:
        rows = self._buffers.setdefault(record.episode_id, [])
        rows.append(record_to_row(record))
        if record.done:
            self._write(record.episode_id, self._buffers.pop(record.episode_id))

    def _write(self, episode_id: str, rows: list[dict]) -> None:
        self.open()
        table = rows_to_table(rows)
        write_atomic(self.episodes_dir / f"{episode_id}.parquet", lambda f: pq.write_table(table, f))
        self.episodes_written += 1

    def close(self, keep_unfinished: bool = False) -> None:
        """Drop (and count) the episodes still running; with `keep_unfinished`, write them as truncated instead."""
        buffers, self._buffers = self._buffers, {}
        if not keep_unfinished:
            self.episodes_dropped += len(buffers)
            return
        for episode_id, rows in buffers.items():
            self._write(episode_id, [*rows[:-1], _stopped_here(rows[-1])])
            self.episodes_kept_unfinished += 1


def _stopped_here(row: dict) -> dict:
    """An episode's last logged step as the end of an episode the user stopped: truncated, not a success."""
    info = json.loads(row["info"])
    return {**row, "truncated": True, "success": False, "info": json.dumps({**info, "stopped_by_user": True}, sort_keys=True)}
