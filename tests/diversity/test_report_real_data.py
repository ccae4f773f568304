"""The whole report on real public data: the 175 Self-Instruct seeds as the seed pool, the 252
user-oriented instructions standing in for a generated source, and 3,000 P3 rows as original_p3."""

import json
import struct
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.diversity import DiversityConfig, DiversityInputs, build_diversity_report, write_report
from lamini_assets.diversity.report import report_markdown
from lamini_assets.schema import make_instruction_id

from tests.support.paths import SHARED_DATA
P3_ROWS = 3000


def first_instance(task: dict) -> tuple[str, str, str]:
    instance = task["instances"][0]
    return task["instruction"], instance["input"], instance["output"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def full_instruction(instruction: str, input_text: str) -> str:
    return f"{instruction}\n\n{input_text}" if input_text else instruction


@pytest.fixture(scope="module")
def inputs() -> DiversityInputs:
    seeds = [first_instance(task) for task in read_jsonl(SHARED_DATA / "self_instruct_seed_tasks.jsonl")]
    user = [first_instance(task) for task in read_jsonl(SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl")]
    p3 = []
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        for row in read_jsonl(path):
            p3.append((row["prompt"].strip(), "", row["completion"].replace("<|endoftext|>", "").strip()))
    p3 = p3[:: max(1, len(p3) // P3_ROWS)][:P3_ROWS]
    rows = [
        {"instruction_id": make_instruction_id(i, x), "instruction": full_instruction(i, x), "response": o,
         "instruction_source": source}
        for source, tasks in (("self_instruct_without_topic", user), ("original_p3", p3))
        for i, x, o in tasks
    ]
    dataset = pl.DataFrame(rows).unique("instruction_id", keep="first", maintain_order=True)
    seed_frame = pl.DataFrame([{"instruction_id": make_instruction_id(i, x), "seed_source": "self_instruct",
                                "instruction": i, "input": x} for i, x, _ in seeds])
    rejects = pl.DataFrame({"instruction_source": ["self_instruct_without_topic"] * 3,
                            "drop_reason": ["too_short", "near_duplicate", "blacklisted"]})
    kept = dataset.group_by("instruction_source").len("rows").with_columns(pl.col("rows").cast(pl.Int64))
    return DiversityInputs(version="realdata00000000", dataset=dataset, seeds=seed_frame, rejects=rejects,
                           instructions_kept=kept)


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_report_on_real_instructions(tmp_path: Path, inputs: DiversityInputs) -> None:
    # 252 P3 rows + the 252 user-oriented ones + 175 seeds are embedded (CPU time is shared here).
    # The t-SNE shows a seeded 200 of each source's 252 embedded rows.
    config = DiversityConfig(sample_per_source=252, projection_sample_per_source=200,
                             lexical_sample_per_source=P3_ROWS)
    store = LocalArtifactStore(tmp_path)
    lines: list[str] = []
    report = build_diversity_report(inputs, config, store, lines.append)

    assert set(report.figures) == {"projection", "lengths_words", "lengths_tokens", "rejects", "nearest_seed",
                                   "verb_noun"}
    for name, png in report.figures.items():
        width, height = png_size(png)
        assert 600 <= width <= 1400 and 200 <= height <= 1600, (name, width, height)
    assert report.counts["embeddings_computed"] == 252 + 252 + 175 and report.counts["projection_cached"] == 0
    assert (report.counts["rows_embedded_sample"], report.counts["rows_projected"]) == (252 + 252, 200 + 200)
    assert any("ETA" in line for line in lines)

    table = {row["instruction_source"]: row for row in report.tables["table_one"].iter_rows(named=True)}
    assert table["self_instruct_without_topic"]["rows"] == 252
    assert table["original_p3"]["rows"] == inputs.dataset.filter(pl.col("instruction_source") == "original_p3").height
    assert table["original_p3"]["instruction_tokens"] > table["original_p3"]["instruction_words"] > 20
    lexical = {row["instruction_source"]: row for row in report.lexical.iter_rows(named=True)}
    for row in lexical.values():
        assert 0.3 < row["instruction_mattr"] <= 1.0 and 0 < row["instruction_distinct_2"] <= 1.0
    # P3 prompts come from 142 templates, so they repeat their wording far more than user requests do.
    assert lexical["original_p3"]["instruction_near_duplicate_rate"] > 0.3
    assert lexical["self_instruct_without_topic"]["instruction_near_duplicate_rate"] < 0.05
    assert lexical["original_p3"]["instruction_distinct_2"] < lexical["self_instruct_without_topic"]["instruction_distinct_2"]

    novelty = report.tables["nearest_seed"].row(0, named=True)
    assert novelty["instruction_source"] == "self_instruct_without_topic" and novelty["rows"] == 252
    # Written by other people than the seeds, for other apps: related but rarely the same task.
    assert 0.2 < novelty["median"] < 0.8 and novelty["share_at_least_0.9"] < 0.05
    assert report.tables["rejects"]["rejected"].to_list() == [3]
    verbs = report.tables["verb_noun"]
    assert verbs.height > 20 and "write" in verbs["verb"].to_list()

    uris = write_report(report, config, store)
    page = Path(uris["report"]).read_text(encoding="utf-8")
    assert uris["report"].endswith("diversity/realdata00000000/report.html")
    assert page.count("data:image/png;base64,") == len(report.figures) and "<table" in page
    assert Path(uris["figure/projection"]).read_bytes() == report.figures["projection"]
    assert "![" in report_markdown(report)

    # Rerun: embeddings and the projection come from the artifact store.
    rerun = build_diversity_report(inputs, config, store, lines.append)
    assert (rerun.counts["embeddings_computed"], rerun.counts["embeddings_cached"]) == (0, 252 + 252 + 175)
    assert rerun.counts["projection_cached"] == 1
