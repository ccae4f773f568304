"""P3 (T0 mixture) prompts: a folder of per-template JSONL files of {prompt, completion}.

The template is the file stem. The whole prompt is the instruction (input = ""), as P3 prompts
already embed their input; the completion loses its trailing `<|endoftext|>` and surrounding space.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import polars as pl

from lamini_assets.sources.base import RawRecord, SeedFields, SeedLoader, require_text
from lamini_assets.sources.columnar import strip
from lamini_assets.sources.reading import files_in, jsonl_parts, read_jsonl, reread_jsonl

END_OF_TEXT = "<|endoftext|>"


class P3Loader(SeedLoader):
    format_name = "p3_templates"

    def records(self) -> Iterator[RawRecord]:
        path = self.resolve_path()
        in_folder = path.is_dir()
        for file in files_in(path, self.display(path), (".jsonl",)):
            # Published P3 folders have 0-byte templates: counted and listed, not fatal.
            if not (yield from read_jsonl(file, self.display(file), allow_empty=in_folder)):
                self.empty_files.append(self.display(file))

    def columnar_parts(self) -> Iterator[pl.DataFrame | RawRecord]:
        path = self.resolve_path()
        in_folder = path.is_dir()
        self._files = {self.display(file): file for file in files_in(path, self.display(path), (".jsonl",))}
        for display, file in self._files.items():
            parse = partial(self._parse_frame, display)
            if not (yield from jsonl_parts(file, display, ["prompt", "completion"], parse, allow_empty=in_folder)):
                self.empty_files.append(display)

    def _parse_frame(self, display: str, frame: pl.DataFrame) -> pl.DataFrame:
        """`parse` for a whole file; rows it cannot judge (a null or blank field) are not `ok`."""
        prompt, completion = pl.col("prompt"), pl.col("completion")
        return frame.select(
            pl.lit(display).alias("file"),
            "line",
            prompt.alias("instruction"),
            pl.lit("").alias("input"),
            strip(strip(completion).str.strip_suffix(END_OF_TEXT)).alias("output"),
            pl.lit(os.path.splitext(os.path.basename(display))[0]).alias("template"),
            pl.format("{}:{}", pl.lit(display), "line").alias("origin"),
            (prompt.is_not_null() & (strip(prompt) != "") & completion.is_not_null()).alias("ok"),
        )

    def reread(self, file: str, lines: list[int]) -> list[RawRecord]:
        return reread_jsonl(self._files[file], file, lines)

    def parse(self, record: RawRecord) -> SeedFields:
        row = record.value
        assert row is not None
        completion = require_text(row, "completion").strip()
        completion = completion.removesuffix(END_OF_TEXT).strip()
        return SeedFields(
            instruction=require_text(row, "prompt", non_empty=True),
            input="",
            output=completion,
            template=os.path.splitext(os.path.basename(record.file))[0],
            origin=f"{record.file}:{record.line}",
        )
