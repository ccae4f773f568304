"""FLAN v2 rows of {inputs, targets, task_name?, template_type?}, as JSONL or parquet (chosen by
extension), one file or a folder of them.

The template is `task_name:template_type` (e.g. `anli_r1:zs_opt`), `task_name` alone when there is
no template type, `flan:template_type` when there is no task name, and `flan` when there is neither.
"""

from __future__ import annotations

from collections.abc import Iterator

from lamini_assets.sources.base import RawRecord, SeedFields, SeedLoader, optional_text, require_text
from lamini_assets.sources.reading import files_in, read_jsonl, read_parquet


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
