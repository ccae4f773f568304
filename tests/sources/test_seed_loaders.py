"""Every format on the bundled demo samples and on small files written here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lamini_assets.schema import SEED_SCHEMA, make_instruction_id, normalise_text
from lamini_assets.sources import LoadedSource, SourceError, SourceSpec, load_source
from lamini_assets.sources.base import RawRecord, SeedFields, SeedLoader

JsonlWriter = Callable[[Path, list[Any]], Path]  # the write_jsonl fixture


def load(base_dir: Path, **fields: object) -> LoadedSource:
    return load_source(SourceSpec(**fields), base_dir)


def check_accounting(loaded: LoadedSource) -> None:
    counts = loaded.counts
    assert loaded.rows.schema == pl.Schema(SEED_SCHEMA)
    assert counts["read"] == counts["loaded"] + counts["quarantined"] + counts["sampled_out"]
    assert counts["loaded"] == loaded.rows.height
    assert counts["quarantined"] == loaded.quarantine.height
    assert counts["templates"] == loaded.rows["template"].n_unique()
    ids = [make_instruction_id(i, x) for i, x in zip(loaded.rows["instruction"], loaded.rows["input"], strict=True)]
    assert loaded.rows["instruction_id"].to_list() == ids


def test_self_instruct_sample(project_root: Path, sample_dir: Path) -> None:
    lines = (sample_dir / "self_instruct_seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    tasks = [json.loads(line) for line in lines]
    loaded = load(
        project_root,
        name="self_instruct",
        format="self_instruct_jsonl",
        path="data/sample/self_instruct_seed_tasks.jsonl",
    )
    check_accounting(loaded)
    rows = loaded.rows
    assert rows.height == len(tasks)
    assert rows["input"].to_list() == [task["instances"][0]["input"] for task in tasks]
    assert rows["output"].to_list() == [task["instances"][0]["output"] for task in tasks]
    assert set(rows["seed_source"]) == {"self_instruct"}
    assert set(rows["template"]) == {"self_instruct"}
    assert rows["origin"][3] == f"data/sample/self_instruct_seed_tasks.jsonl:4#{tasks[3]['id']}"
    assert 0 < (rows["input"] != "").sum() < rows.height


def test_self_instruct_uses_the_first_instance(tmp_path: Path, write_jsonl: JsonlWriter) -> None:
    task = {
        "id": "t1",
        "instruction": "Add the numbers.",
        "instances": [{"input": "1 2", "output": "3"}, {"input": "2 2", "output": "4"}],
    }
    write_jsonl(tmp_path / "seeds.jsonl", [task])
    rows = load(tmp_path, name="si", format="self_instruct_jsonl", path="seeds.jsonl").rows
    assert rows.select("input", "output").row(0) == ("1 2", "3")


def test_alpaca_sample_keeps_duplicates_for_downstream_dedup(project_root: Path, sample_dir: Path) -> None:
    elements = json.loads((sample_dir / "alpaca_data.json").read_text(encoding="utf-8"))
    loaded = load(project_root, name="alpaca", format="alpaca_json", path="data/sample/alpaca_data.json")
    check_accounting(loaded)
    rows = loaded.rows
    assert rows.height == len(elements)
    assert rows["origin"][0] == "data/sample/alpaca_data.json:[1]"
    assert rows["origin"][-1] == f"data/sample/alpaca_data.json:[{len(elements)}]"
    assert rows["instruction_id"].n_unique() < rows.height  # repeats within Alpaca are kept

    seeds = load(
        project_root,
        name="self_instruct",
        format="self_instruct_jsonl",
        path="data/sample/self_instruct_seed_tasks.jsonl",
    ).rows
    shared = set(rows["instruction_id"]) & set(seeds["instruction_id"])
    assert shared, "the demo sample should repeat some Self-Instruct seeds"
    for instruction_id in shared:
        alpaca_text = rows.filter(pl.col("instruction_id") == instruction_id)["instruction"][0]
        seed_text = seeds.filter(pl.col("instruction_id") == instruction_id)["instruction"][0]
        assert normalise_text(alpaca_text) == normalise_text(seed_text)


def test_alpaca_missing_or_null_input_is_empty(tmp_path: Path) -> None:
    rows = [{"instruction": "Say hi.", "output": "Hi."}, {"instruction": "Say bye.", "input": None, "output": "Bye."}]
    (tmp_path / "a.json").write_text(json.dumps(rows), encoding="utf-8")
    loaded = load(tmp_path, name="a", format="alpaca_json", path="a.json")
    assert loaded.rows["input"].to_list() == ["", ""]


def test_p3_sample(project_root: Path, sample_dir: Path) -> None:
    files = sorted((sample_dir / "p3").glob("*.jsonl"))
    loaded = load(project_root, name="p3", format="p3_templates", path="data/sample/p3")
    check_accounting(loaded)
    rows = loaded.rows
    assert sorted(set(rows["template"])) == [f.stem for f in files]
    assert loaded.counts["templates"] == len(files)
    first = json.loads(files[0].read_text(encoding="utf-8").splitlines()[0])
    assert rows.row(0, named=True) | {"instruction_id": None} == {
        "instruction_id": None,
        "seed_source": "p3",
        "source_name": "p3",
        "instruction": first["prompt"].strip(),
        "input": "",
        "output": first["completion"].removesuffix("<|endoftext|>"),
        "template": files[0].stem,
        "origin": f"data/sample/p3/{files[0].name}:1",
    }
    assert not rows["output"].str.contains("<|endoftext|>", literal=True).any()


def test_p3_completion_loses_end_of_text_and_surrounding_space(tmp_path: Path, write_jsonl: JsonlWriter) -> None:
    write_jsonl(
        tmp_path / "quiz_simple.jsonl",
        [
            {"prompt": "Q: 2+2?\n", "completion": " 4 <|endoftext|>\n"},
            {"prompt": "Q: colour of grass?", "completion": "green"},
            {"prompt": "Q: a tag?", "completion": "<|endoftext|> stays in the middle <|endoftext|>"},
        ],
    )
    rows = load(tmp_path, name="p3", format="p3_templates", path="quiz_simple.jsonl").rows
    assert rows["output"].to_list() == ["4", "green", "<|endoftext|> stays in the middle"]
    assert rows["instruction"][0] == "Q: 2+2?"
    assert set(rows["template"]) == {"quiz_simple"}


def test_flan_sample(project_root: Path, sample_dir: Path) -> None:
    records = [json.loads(line) for line in (sample_dir / "flan_v2.jsonl").read_text(encoding="utf-8").splitlines()]
    loaded = load(project_root, name="flan", format="flan", path="data/sample/flan_v2.jsonl")
    check_accounting(loaded)
    rows = loaded.rows
    assert rows["template"].to_list() == [f"{r['task_name']}:{r['template_type']}" for r in records]
    assert rows["output"].to_list() == [r["targets"] for r in records]
    assert set(rows["input"]) == {""}
    assert rows["origin"][1] == "data/sample/flan_v2.jsonl:2"


FLAN_ROWS = [
    {"inputs": "Is the sky green?", "targets": "no", "task_name": "cot_facts", "template_type": "zs_opt"},
    {"inputs": "Add 2 and 3.", "targets": "5", "task_name": "math_add"},
    {"inputs": "Translate 'cat' to French.", "targets": "chat", "template_type": "fs_noopt"},
    {"inputs": "Name a colour.", "targets": "blue", "task_name": None, "template_type": None},
]
FLAN_TEMPLATES = ["cot_facts:zs_opt", "math_add", "flan:fs_noopt", "flan"]


def test_flan_template_names(tmp_path: Path, write_jsonl: JsonlWriter) -> None:
    write_jsonl(tmp_path / "flan.jsonl", FLAN_ROWS)
    assert load(tmp_path, name="f", format="flan", path="flan.jsonl").rows["template"].to_list() == FLAN_TEMPLATES


def test_flan_parquet_and_a_folder_of_mixed_files(tmp_path: Path, write_jsonl: JsonlWriter) -> None:
    folder = tmp_path / "flan"
    folder.mkdir()
    pl.DataFrame(
        FLAN_ROWS,
        schema={"inputs": pl.String, "targets": pl.String, "task_name": pl.String, "template_type": pl.String},
    ).write_parquet(folder / "a_part.parquet")
    write_jsonl(folder / "b_part.jsonl", FLAN_ROWS[:2])
    (folder / "README.md").write_text("not data", encoding="utf-8")

    single = load(tmp_path, name="f", format="flan", path="flan/a_part.parquet")
    assert single.rows["template"].to_list() == FLAN_TEMPLATES
    assert single.rows["origin"][2] == "flan/a_part.parquet:3"

    both = load(tmp_path, name="f", format="flan", path="flan")
    check_accounting(both)
    assert both.rows["template"].to_list() == FLAN_TEMPLATES + FLAN_TEMPLATES[:2]
    assert both.rows["origin"][-1] == "flan/b_part.jsonl:2"


def test_absolute_path_ignores_base_dir(tmp_path: Path, write_jsonl: JsonlWriter) -> None:
    path = write_jsonl(tmp_path / "flan.jsonl", FLAN_ROWS)
    rows = load(Path("/nonexistent"), name="f", format="flan", path=str(path)).rows
    assert rows["origin"][0] == f"{path}:1"


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    (tmp_path / "flan.jsonl").write_text("\n" + json.dumps(FLAN_ROWS[0]) + "\n\n  \n" + json.dumps(FLAN_ROWS[1]) + "\n")
    loaded = load(tmp_path, name="f", format="flan", path="flan.jsonl")
    assert loaded.counts["read"] == 2
    assert loaded.rows["origin"].to_list() == ["flan.jsonl:2", "flan.jsonl:5"]


def test_source_name_and_pool_come_from_the_spec(tmp_path: Path, write_jsonl: JsonlWriter) -> None:
    write_jsonl(tmp_path / "flan.jsonl", FLAN_ROWS)
    rows = load(tmp_path, name="extra_p3_like", format="flan", pool="p3", path="flan.jsonl").rows
    assert set(rows["source_name"]) == {"extra_p3_like"}
    assert set(rows["seed_source"]) == {"p3"}


@pytest.mark.parametrize("fmt", ["self_instruct_jsonl", "alpaca_json"])
def test_instruction_is_stripped_but_the_id_is_the_normalised_text(
    tmp_path: Path, write_jsonl: JsonlWriter, fmt: str
) -> None:
    row = {
        "id": "t",
        "instruction": "  Say hi.\n",
        "input": "",
        "output": "Hi.",
        "instances": [{"input": "", "output": "Hi."}],
    }
    if fmt == "alpaca_json":
        (tmp_path / "data").write_text(json.dumps([row]), encoding="utf-8")
    else:
        write_jsonl(tmp_path / "data", [row])
    rows = load(tmp_path, name="s", format=fmt, path="data").rows
    assert rows["instruction"][0] == "Say hi."
    assert rows["instruction_id"][0] == make_instruction_id("say   HI.")


def test_a_loader_that_yields_nothing_is_an_error(tmp_path: Path) -> None:
    class NoRows(SeedLoader):
        format_name = "no_rows"

        def records(self) -> Iterator[RawRecord]:
            return iter(())

        def parse(self, record: RawRecord) -> SeedFields:
            raise AssertionError("never called")

    spec = SourceSpec(name="nothing", format="flan", path="anywhere", on_bad_rows="quarantine")
    with pytest.raises(SourceError, match=r"^anywhere: source 'nothing' has no rows"):
        NoRows(spec, tmp_path).load()


@pytest.mark.parametrize("fmt", ["self_instruct_jsonl", "alpaca_json"])
def test_single_file_formats_reject_a_folder(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "seeds").mkdir()
    with pytest.raises(SourceError, match=f"^seeds: not a file: format '{fmt}' reads one file"):
        load(tmp_path, name="s", format=fmt, path="seeds")


def test_parquet_row_numbers_run_on_across_read_batches(tmp_path: Path) -> None:
    rows = 12_345  # more than one read batch
    pl.DataFrame({"inputs": [f"q{i}" for i in range(rows)], "targets": ["a"] * rows}).write_parquet(
        tmp_path / "f.parquet", row_group_size=5_000
    )
    loaded = load(tmp_path, name="f", format="flan", path="f.parquet")
    assert loaded.counts["read"] == rows
    assert loaded.rows["origin"][-1] == f"f.parquet:{rows}"
    assert loaded.rows["instruction"][-1] == f"q{rows - 1}"
