"""P3 (T0 mixture) prompts: a folder of per-template JSONL files of {prompt, completion}.

The template is the file stem. The whole prompt is the instruction (input = ""), as P3 prompts
already embed their input; the completion loses its trailing `<|endoftext|>` and surrounding space.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from lamini_assets.sources.base import RawRecord, SeedFields, SeedLoader, require_text
from lamini_assets.sources.reading import files_in, read_jsonl

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
