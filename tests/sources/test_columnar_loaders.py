"""The columnar fast path gives exactly what the per-row path gives: rows, order, ids, sampling,
quarantine (file, line, field, reason, raw) and counts, on real data and on files with bad rows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.schema import QUARANTINE_SCHEMA, SEED_SCHEMA, make_instruction_id
from lamini_assets.sources import LOADERS, SourceError, SourceSpec
from lamini_assets.sources.base import RAW_LIMIT, BadField, LoadedSource, SeedLoader, storable
from lamini_assets.sources.sampling import StreamSampler
from lamini_assets.sources.columnar import instruction_ids


def reference_load(loader: SeedLoader) -> LoadedSource:
    """The per-row load as it was before the columnar path (Python strip, make_instruction_id and
    StreamSampler on every row), kept here as the reference."""
    spec = loader.spec
    sampler: StreamSampler[tuple[object, ...]] = StreamSampler(
        max_rows_per_template=spec.max_rows_per_template, max_rows=spec.max_rows, seed=spec.sample_seed
    )
    quarantine: list[tuple[object, ...]] = []
    read = parsed = 0
    for record in loader.records():
        read += 1
        try:
            if record.problem is not None:
                raise BadField(None, record.problem)
            fields = loader.parse(record)
        except BadField as bad:
            if spec.on_bad_rows == "error":
                raise SourceError(record.file, bad.reason, line=record.line, field=bad.field) from None
            quarantine.append((spec.pool, spec.name, record.file, record.line, bad.field, bad.reason,
                               storable(record.raw)[:RAW_LIMIT]))
            continue
        parsed += 1
        instruction, input_text, output = fields.instruction.strip(), fields.input.strip(), fields.output.strip()
        instruction_id = make_instruction_id(instruction, input_text)
        row = (instruction_id, spec.pool, spec.name, instruction, input_text, output, fields.template, fields.origin)
        sampler.add(row, instruction_id=instruction_id, template=fields.template, origin=fields.origin)
    rows = pl.DataFrame(sampler.selected(), schema=SEED_SCHEMA, orient="row")
    counts = {"read": read, "loaded": rows.height, "quarantined": len(quarantine), "sampled_out": parsed - rows.height,
              "templates": rows["template"].n_unique(), "empty_outputs": rows.filter(pl.col("output") == "").height,
              "empty_files": len(loader.empty_files)}
    return LoadedSource(rows, pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA, orient="row"), counts,
                        list(loader.empty_files))


def both_paths(spec: SourceSpec, base_dir: Path) -> tuple[LoadedSource, LoadedSource, list[str]]:
    """(columnar, reference per-row) loads of the same source, and which kinds of parts the columnar one used."""
    loader = LOADERS[spec.format](spec, base_dir)
    used: list[str] = []
    parts = loader.columnar_parts
    assert parts() is not None, f"{spec.format} has a columnar path"

    def counting_parts():  # type: ignore[no-untyped-def]
        for part in parts():
            used.append("frame" if isinstance(part, pl.DataFrame) else "record")
            yield part

    loader.columnar_parts = counting_parts  # type: ignore[method-assign]
    columnar = loader.load()
    return columnar, reference_load(LOADERS[spec.format](spec, base_dir)), used


def assert_same(columnar: LoadedSource, per_row: LoadedSource) -> None:
    assert columnar.rows.equals(per_row.rows)
    assert columnar.quarantine.equals(per_row.quarantine)
    assert columnar.counts == per_row.counts
    assert columnar.empty_files == per_row.empty_files


def test_real_p3_folder_same_rows_and_sampling(shared_data: Path) -> None:
    for sampling in ({}, {"max_rows_per_template": 7, "max_rows": 500, "sample_seed": 3}):
        spec = SourceSpec(name="p3", format="p3_templates", path=str(shared_data / "p3_t0_sample"), **sampling)
        columnar, per_row, used = both_paths(spec, shared_data)
        assert columnar.counts["read"] > 20_000 and set(used) == {"frame"}
        assert_same(columnar, per_row)


def messy_flan_rows(rng: random.Random, count: int) -> list[str]:
    words = ["Straße", "ﬁle", "Ǆemal", "naïve", "word", "Tab\there", "two  spaces", "x\x1cy", "ΣΑΣ", "end\n"]
    lines = []
    for index in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
        row: dict[str, object] = {"inputs": f"\x1c {text} \u3000", "targets": rng.choice([text, "", " x "])}
        if index % 3:
            row["task_name"] = rng.choice(["anli", " cosmos ", "", None])
        if index % 4:
            row["template_type"] = rng.choice(["zs_opt", "", None, " fs "])
        lines.append(json.dumps(row, ensure_ascii=index % 2 == 0))
    return lines


@pytest.mark.parametrize("on_bad_rows", ["quarantine", "error"])
def test_flan_with_bad_rows_same_quarantine_and_rows(tmp_path: Path, on_bad_rows: str) -> None:
    rng = random.Random(0)
    folder = tmp_path / "flan"
    folder.mkdir()
    clean = messy_flan_rows(rng, 3000)
    # Rows the frame flags and the per-row path judges: null, blank and missing required fields.
    flagged = messy_flan_rows(rng, 3000)
    flagged[10] = json.dumps({"inputs": None, "targets": "a"})
    flagged[11] = json.dumps({"inputs": "   ", "targets": "a"})
    flagged[12] = json.dumps({"inputs": "fine", "targets": "a"})
    flagged[2999] = json.dumps({"targets": "no inputs"})
    flagged[500] = json.dumps({"inputs": "no targets"})
    # Files only the per-row path may read: a number where text belongs, bad JSON, a blank line, bad UTF-8.
    number = messy_flan_rows(rng, 200)
    number[5] = json.dumps({"inputs": 5, "targets": "a"})
    bad_json = messy_flan_rows(rng, 200)
    bad_json[7] = '{"inputs": "x", '
    blank = messy_flan_rows(rng, 200)
    blank[9] = ""
    (folder / "a_clean.jsonl").write_text("\ufeff" + "\r\n".join(clean) + "\r\n", encoding="utf-8")
    (folder / "b_flagged.jsonl").write_text("\n".join(flagged), encoding="utf-8")
    (folder / "c_number.jsonl").write_text("\n".join(number) + "\n", encoding="utf-8")
    (folder / "d_bad_json.jsonl").write_text("\n".join(bad_json) + "\n", encoding="utf-8")
    (folder / "e_blank.jsonl").write_text("\n".join(blank) + "\n", encoding="utf-8")
    (folder / "f_bad_utf8.jsonl").write_bytes(b'{"inputs": "caf\xe9", "targets": "x"}\n' + "\n".join(clean[:50]).encode())
    (folder / "g_empty.jsonl").write_bytes(b"")
    (folder / "h_lone_surrogate.jsonl").write_text('{"inputs": "a\\ud800b", "targets": "x"}\n' + "\n".join(clean[:40]))
    spec = SourceSpec(name="flan", format="flan", path="flan", on_bad_rows=on_bad_rows)  # type: ignore[arg-type]
    if on_bad_rows == "error":
        errors = []
        for load in (lambda loader: loader.load(), reference_load):
            with pytest.raises(SourceError) as raised:
                load(LOADERS["flan"](spec, tmp_path))
            errors.append(str(raised.value))
        assert errors[0] == errors[1] and "b_flagged.jsonl:11: field 'inputs'" in errors[0]
        return
    columnar, per_row, used = both_paths(spec, tmp_path)
    assert used.count("frame") == 2 and "record" in used  # two files columnar, the rest per row
    assert columnar.quarantine.height == 8  # 4 flagged rows + number, bad JSON, bad UTF-8, lone surrogate
    assert_same(columnar, per_row)
    for sampling in ({"max_rows_per_template": 5}, {"max_rows": 100, "sample_seed": 9}):
        assert_same(*both_paths(spec.model_copy(update=sampling), tmp_path)[:2])


def test_instruction_ids_equal_make_instruction_id() -> None:
    rng = random.Random(1)
    alphabet = ["a", "B", " ", "  ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "ß", "ﬁ", "İ", "Σ", "é", "e\u0301",
                "\u3000", "１", "!", "\x00"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20_000)]
    inputs = [rng.choice(["", *texts[:50]]) for _ in texts]
    got = instruction_ids(pl.Series(texts), pl.Series(inputs)).to_list()
    assert got == [make_instruction_id(text, extra) for text, extra in zip(texts, inputs)]


def test_alpaca_and_self_instruct_same_rows_and_quarantine(tmp_path: Path, shared_data: Path) -> None:
    rng = random.Random(2)
    texts = [row for row in messy_flan_rows(rng, 4000)]
    alpaca = [{"instruction": json.loads(t)["inputs"], "input": rng.choice(["", None, "ctx  here"]),
               "output": json.loads(t)["targets"]} for t in texts]
    alpaca[3] = {"instruction": " ", "output": "blank"}
    alpaca[4] = {"instruction": "no output"}
    alpaca[5] = {"instruction": None, "input": "", "output": "x"}
    (tmp_path / "alpaca.json").write_text(json.dumps(alpaca, indent=2), encoding="utf-8")
    columnar, per_row, used = both_paths(SourceSpec(name="alpaca", format="alpaca_json", path="alpaca.json",
                                                    on_bad_rows="quarantine"), tmp_path)
    assert used == ["frame"] and columnar.quarantine.height == 3
    assert_same(columnar, per_row)

    real = SourceSpec(name="si", format="self_instruct_jsonl", path=str(shared_data / "self_instruct_seed_tasks.jsonl"))
    columnar, per_row, used = both_paths(real, shared_data)
    assert used == ["frame"] and columnar.rows.height == 175
    assert_same(columnar, per_row)

    tasks = [{"id": f"t{i}", "name": "n", "instruction": json.loads(t)["inputs"],
              "instances": [{"input": rng.choice(["", "in put"]), "output": json.loads(t)["targets"]}]}
             for i, t in enumerate(texts)]
    tasks[7]["instances"] = []
    tasks[8]["id"] = "  "
    tasks[9]["instances"] = [{"input": "no output"}]
    tasks[10]["instances"] = [None]
    del tasks[11]["instances"]
    (tmp_path / "tasks.jsonl").write_text("\n".join(json.dumps(t) for t in tasks), encoding="utf-8")
    spec = SourceSpec(name="si", format="self_instruct_jsonl", path="tasks.jsonl", on_bad_rows="quarantine",
                      max_rows=1000)
    columnar, per_row, used = both_paths(spec, tmp_path)
    assert used == ["frame"] and columnar.quarantine.height == 5
    assert_same(columnar, per_row)
