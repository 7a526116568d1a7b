"""The episode log reader on damaged files: random bytes, truncated and mutated Parquet, broken manifests.

Whatever a file holds, reading it either gives an episode that reads to its last step (rows,
frames, totals) or raises LogFormatError naming the file; iterating reports it to `on_skip` and
goes on. Nothing else escapes. LOG_FUZZ_EXAMPLES=5000 runs more examples than the suite does.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_step_rows import write_v1_episode
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.log_reader import LogFormatError, iter_episodes, iter_runs, read_episode
from vlm_agent.runtime.log_schema import SCHEMA
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession

EXAMPLES = int(os.environ.get("LOG_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass(frozen=True)
class Good:
    """A logged four-step episode (its bytes and table) and a folder to damage copies of it in."""

    raw: bytes
    table: pa.Table
    work: Path

    def __repr__(self) -> str:  # hypothesis shows a failing example's arguments: not 200 kB of Parquet
        return "Good(...)"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Good:
    logs = tmp_path_factory.mktemp("logs")
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=1, seed=2), ExpertAgent(seed=0), logs, "numberline")
    session.loop.run()
    session.finish()
    [path] = logs.glob("*/episodes/*.parquet")
    return Good(path.read_bytes(), pq.read_table(path), tmp_path_factory.mktemp("damaged"))


def read_fully(path: Path) -> None:
    """Read an episode as training and replay do, to its last frame; LogFormatError is the one allowed failure."""
    try:
        episode = read_episode(path)
        assert episode.rows and [step.step for step in episode.steps()] is not None
        episode.total_reward, episode.success, episode.episode_id, episode.agent_kind
        episode.to_pandas()
    except LogFormatError as error:
        message = str(error)
        assert str(path) in message and "\n" not in message


def skipped_or_read(folder: Path) -> None:
    skipped = []
    for episode in iter_episodes([folder], on_skip=skipped.append):
        list(episode.steps())


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_a_log_format_error(good, data):
    path = good.work / "random.parquet"
    path.write_bytes(data)
    read_fully(path)


@FUZZ
@given(data=st.data())
def test_a_truncated_episode_is_a_log_format_error(good, data):
    raw = good.raw
    path = good.work / "truncated.parquet"
    path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    read_fully(path)


@FUZZ
@given(data=st.data())
def test_an_episode_with_bytes_changed_reads_or_is_a_log_format_error(good, data):
    raw = bytearray(good.raw)
    # Half the changes land in the footer (schema, metadata, offsets), where a reader trusts the most.
    anywhere, footer = st.integers(0, len(raw) - 1), st.integers(max(0, len(raw) - 1024), len(raw) - 1)
    for position, value in data.draw(st.lists(st.tuples(st.one_of(anywhere, footer), st.integers(0, 255)), min_size=1, max_size=6)):
        raw[position] = value
    path = good.work / "mutated.parquet"
    path.write_bytes(bytes(raw))
    read_fully(path)
    skipped_or_read(good.work)


# Well-formed Parquet whose values are wrong: a column replaced by arbitrary values of its type.
def column_values(field: pa.Field, rows: int):
    kinds = {
        pa.string(): st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["{", "[]", "null", '{"a": NaN}', "1e999"])),
        pa.binary(): st.one_of(st.none(), st.binary(max_size=64), st.just(b"\x89PNG\r\n\x1a\n")),
        pa.bool_(): st.one_of(st.none(), st.booleans()),
        pa.int32(): st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
        pa.int64(): st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        pa.float32(): st.one_of(st.none(), st.floats(width=32)),
        pa.float64(): st.one_of(st.none(), st.floats()),
    }
    one = kinds.get(field.type, st.one_of(st.none(), st.lists(st.none(), max_size=3)))
    return st.lists(one, min_size=rows, max_size=rows)


@FUZZ
@given(data=st.data())
def test_an_episode_with_wrong_values_reads_or_is_a_log_format_error(good, data):
    table = good.table
    name = data.draw(st.sampled_from(SCHEMA.names))
    field = table.schema.field(name)
    values = pa.array(data.draw(column_values(field, table.num_rows)), type=field.type)
    path = good.work / "wrong-values.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index(name), field, values), path)
    read_fully(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
manifests = st.one_of(
    st.binary(max_size=256),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(["model", "schema_version", "run_id", "rollout"]), json_values).map(lambda d: json.dumps(d).encode()),
)


@FUZZ
@given(manifest=manifests)
def test_a_broken_manifest_is_a_log_format_error_and_its_v1_episodes_still_read(tmp_path_factory, manifest):
    root = tmp_path_factory.mktemp("runs")
    run = root / "run"
    write_v1_episode(run, "ep", "vlm", {"temperature": 1.0})
    (run / "manifest.json").write_bytes(manifest)
    try:
        for _, read in iter_runs(root):
            assert isinstance(read, dict)
    except LogFormatError as error:
        assert "manifest.json" in str(error) and "\n" not in str(error)
    read_fully(run / "episodes" / "ep.parquet")
