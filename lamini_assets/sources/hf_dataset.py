"""Any Hugging Face `datasets` dataset, mapped onto the seed fields by `columns`.

`path` is local: a `save_to_disk` folder (memory-mapped in place, no cache written) (`split` picks from a DatasetDict; a saved single Dataset
is used whole), or data files / a folder of them that `load_dataset` reads. `dataset` is a hub
name, which needs network. A row's "line" is its 1-based row number; origin is `where[split]:row`.
Unmapped input/output are "", an unmapped template is the source name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from lamini_assets.sources.base import (
    RawRecord,
    SeedFields,
    SeedLoader,
    SourceError,
    optional_text,
    raw_json,
    require_text,
)

if TYPE_CHECKING:
    import datasets

# `datasets` file builders by extension, for a single local data file.
_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text", ".arrow": "arrow"}
_TRUE = {"1", "on", "yes", "true"}


def hub_offline() -> str | None:
    """The variable that makes the hub unreachable, if one is set."""
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in _TRUE:
            return variable
    return None


class HfDatasetLoader(SeedLoader):
    format_name = "hf_dataset"

    def records(self) -> Iterator[RawRecord]:
        spec = self.spec
        assert spec.columns is not None, "SourceSpec validation requires columns for hf_dataset"
        table, where = self._open()
        missing = sorted(set(spec.columns.values()) - set(table.column_names))
        if missing:
            raise SourceError(
                where,
                f"source '{spec.name}': column(s) {missing} not in the dataset, which has {table.column_names}",
                field=missing[0],
            )
        table = table.select_columns(sorted(set(spec.columns.values())))
        label = f"{where}[{spec.split}]"
        for row_number, row in enumerate(table, start=1):
            yield RawRecord(label, row_number, raw_json(row), row)

    def parse(self, record: RawRecord) -> SeedFields:
        row = record.value
        assert row is not None and self.spec.columns is not None
        columns = self.spec.columns

        def mapped(role: str) -> str:
            return optional_text(row, columns[role]) if role in columns else ""

        return SeedFields(
            instruction=require_text(row, columns["instruction"], non_empty=True),
            input=mapped("input"),
            output=mapped("output"),
            template=mapped("template").strip() or self.spec.name,
            origin=f"{record.file}:{record.line}",
        )

    def _open(self) -> tuple[datasets.Dataset, str]:
        """The chosen split and a name for it in origins and errors."""
        import datasets  # imported here: it takes a second and only this format needs it

        spec = self.spec
        load: Callable[[], datasets.Dataset | datasets.DatasetDict]
        # Where load_dataset writes its Arrow cache (and hub downloads): the pipeline's state dir.
        cache = {} if self.cache_dir is None else {"cache_dir": str(self.cache_dir)}
        if spec.dataset is not None:
            where = spec.dataset
            variable = hub_offline()
            if variable is not None:
                raise SourceError(
                    where,
                    f"source '{spec.name}': '{where}' is a hub dataset name, which needs network, and {variable} "
                    "is set; give a local copy as 'path' instead (a save_to_disk folder or data files)",
                )
            load = partial(datasets.load_dataset, where, split=spec.split, **cache)
        else:
            path = self.resolve_path()
            where = self.display(path)
            if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
                load = partial(datasets.load_from_disk, str(path))
            elif path.is_file():
                builder = _BUILDERS.get(path.suffix)
                if builder is None:
                    raise SourceError(where, f"source '{spec.name}': no datasets builder for '{path.suffix}' files")
                load = partial(datasets.load_dataset, builder, data_files=str(path), split=spec.split, **cache)
            else:
                load = partial(datasets.load_dataset, str(path), split=spec.split, **cache)
        try:
            loaded = load()
        except Exception as exc:  # datasets raises many unrelated types (even IndexError for an empty save)
            raise SourceError(where, f"source '{spec.name}': cannot load split '{spec.split}': {exc}") from exc
        if isinstance(loaded, datasets.DatasetDict):
            if spec.split not in loaded:
                raise SourceError(where, f"source '{spec.name}': no split '{spec.split}'; it has {list(loaded)}")
            loaded = loaded[spec.split]
        return loaded, where
