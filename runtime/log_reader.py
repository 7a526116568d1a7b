"""Reads episode logs back: runs, episodes and steps, rejecting malformed files with one line."""
from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from vlm_agent.core.atomic import is_partial
from vlm_agent.runtime.episode_log import EPISODES_DIR, MANIFEST
from vlm_agent.runtime.log_schema import JSON_FIELDS, SCHEMA, SCHEMA_KEY, SCHEMA_VERSION, V1_NAMES, StepRow, table_rows, upgrade_v1
from vlm_agent.runtime.records import StepRecord

if TYPE_CHECKING:  # pandas costs a third of a second to import: only readers that want frames pay it
    import pandas as pd


class LogFormatError(ValueError):
    """A file that is not a readable vlm-agent episode log; the message is one line naming it."""


@dataclass(frozen=True)
class Episode:
    """One episode file: its table in the current schema and, on first use, its typed rows.

    Frozen, so the rows can never disagree with the table: change a column with dataclasses.replace.
    """

    path: Path
    table: pa.Table

    @cached_property
    def rows(self) -> list[StepRow]:
        return table_rows(self.table)

    @property
    def episode_id(self) -> str:
        return self.table.column("episode_id")[0].as_py()

    @property
    def agent_kind(self) -> str:
        return self.table.column("agent_kind")[0].as_py()

    def to_pandas(self) -> "pd.DataFrame":
        return self.table.to_pandas()

    def steps(self) -> Iterator[StepRecord]:
        for row in self.rows:
            try:
                record = row.to_record()
            except Exception as error:  # noqa: BLE001  (a PNG whose checksums hold but whose pixels do not decode)
                raise LogFormatError(f"{self.path}: the frame of step {row.step} does not decode ({_first_line(error)})") from None
            yield record

    @property
    def total_reward(self) -> float:
        return float(sum(self.table.column("reward").to_pylist()))

    @property
    def success(self) -> bool:
        return bool(self.table.column("success")[-1].as_py())


def read_episode(path: Path) -> Episode:
    """Read and validate one episode file; raise LogFormatError naming the file otherwise."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise LogFormatError(f"{path}: not a readable Parquet file ({_first_line(error)})") from None
    version = (table.schema.metadata or {}).get(SCHEMA_KEY)
    if version is None:
        raise LogFormatError(f"{path}: not a vlm-agent episode log (no schema version)")
    version = int(version)
    if version > SCHEMA_VERSION:
        raise LogFormatError(f"{path}: schema version {version} is newer than this vlm-agent reads ({SCHEMA_VERSION})")
    missing = [name for name in (V1_NAMES if version == 1 else SCHEMA.names) if name not in table.column_names]
    if missing:
        raise LogFormatError(f"{path}: missing columns {', '.join(missing)}")
    if table.num_rows == 0:
        raise LogFormatError(f"{path}: episode has no steps")
    if not (table.column("terminated")[-1].as_py() or table.column("truncated")[-1].as_py()):
        raise LogFormatError(f"{path}: episode does not end (last step neither terminated nor truncated)")
    try:
        if version == 1:
            table = upgrade_v1(table, _manifest_model(path))
        table = table.select(SCHEMA.names).cast(SCHEMA)
        table.validate(full=True)  # Parquet leaves text unchecked: not UTF-8 would fail whoever reads it
    except (pa.ArrowException, ValueError) as error:
        raise LogFormatError(f"{path}: columns of the wrong type ({_first_line(error)})") from None
    _check_values(table, path)
    return Episode(path=path, table=table)


# Columns every step must fill (the others may be empty: no log-probs for a scripted agent, no value...).
_FILLED = [f.name for f in dataclasses.fields(StepRow) if "None" not in str(f.type) and f.name not in JSON_FIELDS]


def _check_values(table: pa.Table, path: Path) -> None:
    """LogFormatError unless the values are ones the readers can use: steps filled in, JSON objects, PNG frames.

    Checked once here, so a damaged file is skipped as a whole (iter_episodes' on_skip), not found
    out step by step by whoever decodes it.
    """
    for name in _FILLED:
        if table.column(name).null_count:
            raise LogFormatError(f"{path}: column {name} has empty values")
    for name in JSON_FIELDS:
        for text in table.column(name).to_pylist():
            try:
                if text and not isinstance(json.loads(text), dict):
                    raise ValueError("not a JSON object")
            except ValueError as error:  # json's errors are ValueErrors
                raise LogFormatError(f"{path}: column {name} holds {text[:40]!r}, not a JSON object ({_first_line(error)})") from None
    for step, data in enumerate(table.column("frame_png").to_pylist()):
        try:
            Image.open(io.BytesIO(data)).verify()  # the chunks' checksums: no pixels decoded
        except Exception as error:  # noqa: BLE001  (PIL raises anything from SyntaxError to struct.error)
            raise LogFormatError(f"{path}: the frame of row {step} is not a readable PNG ({_first_line(error)})") from None


def _manifest_model(episode_path: Path) -> str | None:
    """The `model` a v1 run's manifest names (None if it names none or cannot be read)."""
    try:
        model = json.loads((episode_path.parent.parent / MANIFEST).read_text()).get("model")
    except (OSError, ValueError, AttributeError):  # ValueError: not UTF-8, not JSON; AttributeError: not an object
        return None
    return model if isinstance(model, str) else None


def find_episode_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Episode files under the given log roots, run folders or files, and unfinished temp files.

    Returns (episode files sorted by path, partial files left by a write that never finished).
    """
    episodes, partial = [], []
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such file or folder")
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            if is_partial(path):
                partial.append(path)
            elif path.suffix == ".parquet":
                episodes.append(path)
    return sorted(set(episodes)), partial


def iter_episodes(paths: Iterable[Path], on_skip=None) -> Iterator[Episode]:
    """Every readable episode under `paths`; malformed files go to `on_skip(message)` and are skipped."""
    files, _ = find_episode_files(paths)
    for path in files:
        try:
            yield read_episode(path)
        except LogFormatError as error:
            if on_skip is None:
                raise
            on_skip(str(error))


def read_steps(paths: Iterable[Path], on_skip=None) -> "pd.DataFrame":
    """All steps of all readable episodes under `paths` as one DataFrame."""
    import pandas as pd

    frames = [episode.to_pandas() for episode in iter_episodes(paths, on_skip=on_skip)]
    if not frames:
        return pd.DataFrame(columns=SCHEMA.names)
    return pd.concat(frames, ignore_index=True)


def iter_runs(log_dir: Path) -> Iterator[tuple[Path, dict]]:
    """(run folder, manifest) for each run under a log root."""
    for manifest_path in sorted(Path(log_dir).glob(f"*/{MANIFEST}")):
        run_dir = manifest_path.parent
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as error:  # ValueError: not UTF-8, not JSON
            raise LogFormatError(f"{manifest_path}: unreadable manifest ({_first_line(error)})") from None
        if not isinstance(manifest, dict):
            raise LogFormatError(f"{manifest_path}: unreadable manifest (not a JSON object)")
        if (run_dir / EPISODES_DIR).is_dir():
            yield run_dir, manifest


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
