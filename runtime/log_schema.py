"""The episode log's Parquet schema (versioned) and the StepRecord <-> row conversion."""
from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
from PIL import Image

from vlm_agent.runtime.records import StepRecord

SCHEMA_VERSION = 1
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
    ],
    metadata={SCHEMA_KEY: str(SCHEMA_VERSION).encode()},
)

_JSON_FIELDS = ("sampling", "info")


def encode_png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # Level 1: frames are flat-coloured drawings, so fast compression is nearly as small.
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def record_to_row(record: StepRecord) -> dict:
    row = {name: getattr(record, name) for name in SCHEMA.names if hasattr(record, name)}
    row["frame_png"] = encode_png(record.frame)
    for name in _JSON_FIELDS:
        row[name] = json.dumps(getattr(record, name), sort_keys=True)
    return row


def rows_to_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def row_to_record(row: dict) -> StepRecord:
    """Rebuild a StepRecord from a row read back from a log (frame decoded)."""
    fields = {name: row[name] for name in SCHEMA.names if name not in ("frame_png", *_JSON_FIELDS)}
    for name in _JSON_FIELDS:
        fields[name] = json.loads(row[name]) if row[name] else {}
    fields["frame"] = decode_png(row["frame_png"])
    return StepRecord(**fields)
