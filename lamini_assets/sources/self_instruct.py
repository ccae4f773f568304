"""Self-Instruct seed tasks: JSONL of {id, name, instruction, instances: [{input, output}], is_classification}.

One row per task from its first instance, as LaMini used the seeds (instruction + first instance);
the later instances of the few multi-instance tasks are not seeds of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

from lamini_assets.sources.base import BadField, RawRecord, SeedFields, SeedLoader, optional_text, require_text
from lamini_assets.sources.reading import read_jsonl


class SelfInstructLoader(SeedLoader):
    format_name = "self_instruct_jsonl"

    def records(self) -> Iterator[RawRecord]:
        path = self.resolve_path(file_only=True)
        yield from read_jsonl(path, self.display(path))

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
