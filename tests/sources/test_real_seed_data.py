"""The loaders on real published files (shared/data, outside the repository)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.sources import LoadedSource, SourceSpec, load_source


@pytest.fixture(scope="module")
def real_p3(shared_data: Path) -> LoadedSource:
    return load_source(SourceSpec(name="p3", format="p3_templates", path="p3_t0_sample"), shared_data)


def test_the_175_self_instruct_seeds(shared_data: Path) -> None:
    loaded = load_source(
        SourceSpec(name="self_instruct", format="self_instruct_jsonl", path="self_instruct_seed_tasks.jsonl"),
        shared_data,
    )
    rows = loaded.rows
    assert loaded.counts == {"read": 175, "loaded": 175, "quarantined": 0, "sampled_out": 0, "templates": 1,
                             "empty_outputs": 0, "empty_files": 0}
    assert (rows["input"] != "").sum() == 125
    assert rows["origin"][0] == "self_instruct_seed_tasks.jsonl:1#seed_task_0"
    assert rows["origin"][174] == "self_instruct_seed_tasks.jsonl:175#seed_task_174"


def test_the_142_p3_templates(real_p3: LoadedSource, shared_data: Path) -> None:
    files = sorted((shared_data / "p3_t0_sample").glob("*.jsonl"))
    lines = {f.stem: sum(1 for line in f.read_text(encoding="utf-8").splitlines() if line.strip()) for f in files}
    rows = real_p3.rows
    assert real_p3.counts["templates"] == len(files) == 142
    assert real_p3.counts["read"] == real_p3.counts["loaded"] == sum(lines.values())
    per_template = dict(rows.group_by("template").len().iter_rows())
    assert per_template == lines
    assert not rows["output"].str.ends_with("<|endoftext|>").any()
    assert (rows["input"] == "").all()
    first = json.loads(files[0].read_text(encoding="utf-8").splitlines()[0])
    assert rows["instruction"][0] == first["prompt"].strip()


def test_real_p3_subset_keeps_template_identity(shared_data: Path, real_p3: LoadedSource) -> None:
    spec = SourceSpec(
        name="p3", format="p3_templates", path="p3_t0_sample", max_rows_per_template=5, max_rows=400, sample_seed=7
    )
    subset = load_source(spec, shared_data)
    assert subset.rows.height == 400
    assert subset.rows.group_by("template").len()["len"].max() <= 5
    # Every kept row is the same row, with the same template, as in the full load.
    joined = subset.rows.join(real_p3.rows, on="origin", how="left", suffix="_full")
    assert joined.filter(pl.col("template") != pl.col("template_full")).height == 0
    assert joined["instruction_full"].null_count() == 0
