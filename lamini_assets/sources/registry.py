"""Format name -> loader class. A new format is one loader module plus one line here (and its
name in spec.SourceFormat)."""

from __future__ import annotations

from pathlib import Path

from lamini_assets.sources.alpaca import AlpacaLoader
from lamini_assets.sources.base import LoadedSource, SeedLoader
from lamini_assets.sources.flan import FlanLoader
from lamini_assets.sources.hf_dataset import HfDatasetLoader
from lamini_assets.sources.p3 import P3Loader
from lamini_assets.sources.self_instruct import SelfInstructLoader
from lamini_assets.sources.spec import SourceSpec

LOADERS: dict[str, type[SeedLoader]] = {
    loader.format_name: loader for loader in (SelfInstructLoader, AlpacaLoader, P3Loader, FlanLoader, HfDatasetLoader)
}


def load_source(spec: SourceSpec, base_dir: Path, *, cache_dir: Path | None = None) -> LoadedSource:
    """The source's rows in SEED_SCHEMA, its quarantined rows and its counts.

    Relative paths resolve against base_dir. `cache_dir` is where a loader may keep caches (the
    `hf_dataset` Arrow files and hub downloads); the pipeline passes a folder of its state dir, so
    `make clean-state` removes it. Raises SourceError for a bad row when `on_bad_rows` is "error",
    and always for a missing path or an empty file.
    """
    return LOADERS[spec.format](spec, base_dir, cache_dir=cache_dir).load()
