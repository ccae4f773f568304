"""Self-Instruct seed tasks: JSONL of {id, name, instruction, instances: [{input, output}], is_classification}.

One row per task from its first instance, as LaMini used the seeds (instruction + first instance);
the later instances of the few multi-instance tasks are not seeds of their own.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json

from lamini_assets.sources.base import BadField, RawRecord, SeedFields, SeedLoader, optional_text, require_text
from lamini_assets.sources.columnar import json_bytes, strip
from lamini_assets.sources.reading import read_jsonl, reread_jsonl

_TEXT_FIELDS = ["id", "instruction", "input", "output"]
_TASK_SCHEMA = pa.schema([
    ("id", pa.string()), ("instruction", pa.string()),
    ("instances", pa.list_(pa.struct([("input", pa.string()), ("output", pa.string())]))),
])


class SelfInstructLoader(SeedLoader):
    format_name = "self_instruct_jsonl"

    def records(self) -> Iterator[RawRecord]:
        path = self.resolve_path(file_only=True)
        yield from read_jsonl(path, self.display(path))

    def columnar_parts(self) -> Iterator[pl.DataFrame | RawRecord]:
        path = self.resolve_path(file_only=True)
        self._path = path
        display = self.display(path)
        frame = self._read_columnar(path)
        if frame is None:
            yield from read_jsonl(path, display)
            return
        task_id, instruction = pl.col("id"), pl.col("instruction")
        first = pl.col("instances").list.first()
        output = first.struct.field("output")
        yield frame.select(
            pl.lit(display).alias("file"),
            "line",
            instruction,
            first.struct.field("input").fill_null("").alias("input"),
            output.alias("output"),
            pl.lit(self.spec.name).alias("template"),
            pl.format("{}:{}#{}", pl.lit(display), "line", task_id).alias("origin"),
            (task_id.is_not_null() & (strip(task_id) != "") & instruction.is_not_null() & (strip(instruction) != "")
             & (pl.col("instances").list.len() > 0).fill_null(False) & first.is_not_null() & output.is_not_null()
             ).alias("ok"),
        )

    @staticmethod
    def _read_columnar(path: Path) -> pl.DataFrame | None:
        """The tasks with id, instruction and instances (a list of {input?, output}) when Polars reads
        them as json.loads would (sources/columnar.py), else None."""
        body = json_bytes(path, _TEXT_FIELDS, list_fields=("instances",))
        if body is None:
            return None
        try:
            # pyarrow's reader (multithreaded C++): Polars builds the list of structs 3.5x slower, on one
            # thread (5.0 against 1.4 s of CPU for 466k tasks; same frame). The schema given, so a line
            # of another shape raises.
            table = pa_json.read_json(
                io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=1 << 24),
                parse_options=pa_json.ParseOptions(explicit_schema=_TASK_SCHEMA, unexpected_field_behavior="ignore"),
            )
            frame = pl.from_arrow(table)
        except Exception:  # noqa: BLE001 - the per-row path decides
            return None
        assert isinstance(frame, pl.DataFrame)
        return frame.select("id", "instruction", "instances").with_row_index("line", offset=1).with_columns(
            pl.col("line").cast(pl.Int64)
        )

    def reread(self, file: str, lines: list[int]) -> list[RawRecord]:
        return reread_jsonl(self._path, file, lines)

    def parse(self, record: RawRecord) -> SeedFields:
        task = record.value
        assert task is not None
        task_id = require_text(task, "id", non_empty=True)
        instruction = require_text(task, "instruction", non_empty=True)
        if "instances" not in task:
            raise BadField("instances", "missing")
        instances = task["instances"]
        if not isinstance(instances, list):
            raise BadField("instances", f"expected a list, got {type(instances).__name__}")
        if not instances:
            raise BadField("instances", "empty list: a task needs at least one instance")
        first = instances[0]
        if not isinstance(first, dict):
            raise BadField("instances[0]", f"expected an object, got {type(first).__name__}")
        return SeedFields(
            instruction=instruction,
            input=optional_text(first, "input", label="instances[0].input"),
            output=require_text(first, "output", label="instances[0].output"),
            template=self.spec.name,
            origin=f"{record.file}:{record.line}#{task_id}",
        )
