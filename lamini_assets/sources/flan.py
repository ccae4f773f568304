"""FLAN v2 rows of {inputs, targets, task_name?, template_type?}, as JSONL or parquet (chosen by
extension), one file or a folder of them.

The template is `task_name:template_type` (e.g. `anli_r1:zs_opt`), `task_name` alone when there is
no template type, `flan:template_type` when there is no task name, and `flan` when there is neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import polars as pl

from lamini_assets.sources.base import RawRecord, SeedFields, SeedLoader, optional_text, require_text
from lamini_assets.sources.columnar import strip
from lamini_assets.sources.reading import files_in, jsonl_parts, read_jsonl, read_parquet, reread_jsonl

_TEXT_FIELDS = ["inputs", "targets", "task_name", "template_type"]


class FlanLoader(SeedLoader):
    format_name = "flan"

    def records(self) -> Iterator[RawRecord]:
        path = self.resolve_path()
        in_folder = path.is_dir()
        for file in files_in(path, self.display(path), (".jsonl", ".parquet")):
            reader = read_parquet if file.suffix == ".parquet" else read_jsonl
            # An empty shard in a folder is counted and listed, not fatal.
            if not (yield from reader(file, self.display(file), allow_empty=in_folder)):
                self.empty_files.append(self.display(file))

    def columnar_parts(self) -> Iterator[pl.DataFrame | RawRecord]:
        path = self.resolve_path()
        in_folder = path.is_dir()
        self._files = {self.display(file): file for file in files_in(path, self.display(path), (".jsonl", ".parquet"))}
        for display, file in self._files.items():
            if file.suffix == ".parquet":
                seen = yield from read_parquet(file, display, allow_empty=in_folder)
            else:
                parse = partial(self._parse_frame, display)
                seen = yield from jsonl_parts(file, display, _TEXT_FIELDS, parse, allow_empty=in_folder)
            if not seen:
                self.empty_files.append(display)

    def _parse_frame(self, display: str, frame: pl.DataFrame) -> pl.DataFrame:
        """`parse` for a whole file; rows it cannot judge (a null or blank field) are not `ok`."""
        inputs, targets = pl.col("inputs"), pl.col("targets")
        task = strip(pl.col("task_name").fill_null(""))
        kind = strip(pl.col("template_type").fill_null(""))
        family = pl.when(task != "").then(task).otherwise(pl.lit("flan"))
        return frame.select(
            pl.lit(display).alias("file"),
            "line",
            inputs.alias("instruction"),
            pl.lit("").alias("input"),
            targets.alias("output"),
            pl.when(kind != "").then(pl.format("{}:{}", family, kind)).otherwise(family).alias("template"),
            pl.format("{}:{}", pl.lit(display), "line").alias("origin"),
            (inputs.is_not_null() & (strip(inputs) != "") & targets.is_not_null()).alias("ok"),
        )

    def reread(self, file: str, lines: list[int]) -> list[RawRecord]:
        return reread_jsonl(self._files[file], file, lines)

    def parse(self, record: RawRecord) -> SeedFields:
        row = record.value
        assert row is not None
        task_name = optional_text(row, "task_name").strip()
        template_type = optional_text(row, "template_type").strip()
        template = f"{task_name or 'flan'}:{template_type}" if template_type else task_name or "flan"
        return SeedFields(
            instruction=require_text(row, "inputs", non_empty=True),
            input="",
            output=require_text(row, "targets"),
            template=template,
            origin=f"{record.file}:{record.line}",
        )
