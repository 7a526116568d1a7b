"""The episode log's Parquet schema (versioned), the typed row it reads back as, and StepRecord <-> row.

Version 2 added the provenance columns `constrained`, `constrained_logprobs` and `model_root`;
version 1 files gain them on reading (see upgrade_v1).
"""
from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from PIL import Image

from vlm_agent.runtime.records import StepFacts, StepRecord, constraint_flags

SCHEMA_VERSION = 2
SCHEMA_KEY = b"vlm_agent.schema_version"

SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("episode_id", pa.string()),
        ("step", pa.int32()),
        ("env_id", pa.string()),
        ("env_index", pa.int32()),
        ("task_type", pa.string()),
        ("task_text", pa.string()),
        ("frame_png", pa.binary()),
        ("observation_text", pa.string()),
        ("legal_actions", pa.list_(pa.string())),
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("response_token_ids", pa.list_(pa.int32())),
        ("logprobs", pa.list_(pa.float32())),
        ("cot_mask", pa.list_(pa.bool_())),
        ("action_mask", pa.list_(pa.bool_())),
        ("thought_coef", pa.float32()),
        ("action_value", pa.string()),
        ("parse_status", pa.string()),
        ("parse_reason", pa.string()),
        ("parsed_action", pa.string()),
        ("action_sent", pa.string()),
        ("fallback", pa.string()),
        ("reward", pa.float64()),
        ("terminated", pa.bool_()),
        ("truncated", pa.bool_()),
        ("success", pa.bool_()),
        ("value", pa.float32()),
        ("policy_version", pa.string()),
        ("agent_kind", pa.string()),
        ("sampling", pa.string()),  # JSON
        ("episode_seed", pa.int64()),
        ("wall_time", pa.float64()),
        ("gen_seconds", pa.float32()),
        ("env_seconds", pa.float32()),
        ("info", pa.string()),  # JSON
        ("constrained", pa.bool_()),  # since v2
        ("constrained_logprobs", pa.bool_()),  # since v2
        ("model_root", pa.string()),  # since v2
    ],
    metadata={SCHEMA_KEY: str(SCHEMA_VERSION).encode()},
)

JSON_FIELDS = ("sampling", "info")
V2_COLUMNS = ("constrained", "constrained_logprobs", "model_root")
V1_NAMES = [name for name in SCHEMA.names if name not in V2_COLUMNS]


def encode_png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # Level 1: frames are flat-coloured drawings, so fast compression is nearly as small.
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@dataclass(frozen=True, kw_only=True)
class StepRow(StepFacts):
    """One logged step as read back: the record's facts with the frame still PNG bytes, JSON decoded.

    What training reads; decoding the frame is left to whoever needs it, once (see PPOSample.frame).
    """

    frame_png: bytes

    def to_record(self) -> StepRecord:
        """The StepRecord this row was written from (frame decoded)."""
        facts = {f.name: getattr(self, f.name) for f in dataclasses.fields(StepFacts)}
        return StepRecord(frame=decode_png(self.frame_png), **facts)


def record_to_row(record: StepRecord) -> dict:
    row = {name: getattr(record, name) for name in SCHEMA.names if hasattr(record, name)}
    row["frame_png"] = encode_png(record.frame)
    for name in JSON_FIELDS:
        row[name] = json.dumps(getattr(record, name), sort_keys=True)
    return row


def rows_to_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def table_rows(table: pa.Table) -> list[StepRow]:
    """The typed rows of an episode table in the current schema."""
    rows = []
    for row in table.select(SCHEMA.names).to_pylist():
        for name in JSON_FIELDS:
            row[name] = json.loads(row[name]) if row[name] else {}
        rows.append(StepRow(**row))
    return rows


def upgrade_v1(table: pa.Table, manifest_model: str | None) -> pa.Table:
    """A version 1 table with the v2 provenance columns derived, as training guessed them before v2.

    `constrained` and `constrained_logprobs` come from the sampling JSON; `model_root` is the run
    manifest's `model` for steps of a VLM policy ("" where the manifest names none: the default model).
    """
    flags = [constraint_flags(json.loads(s) if s else {}) for s in table.column("sampling").to_pylist()]
    roots = ["" if kind != "vlm" else (manifest_model or "") for kind in table.column("agent_kind").to_pylist()]
    table = table.select(V1_NAMES)
    table = table.append_column(SCHEMA.field("constrained"), pa.array([c for c, _ in flags], pa.bool_()))
    table = table.append_column(SCHEMA.field("constrained_logprobs"), pa.array([lp for _, lp in flags], pa.bool_()))
    table = table.append_column(SCHEMA.field("model_root"), pa.array(roots, pa.string()))
    return table
