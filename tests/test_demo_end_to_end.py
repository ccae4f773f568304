"""`make demo`'s runner on the bundled sample, in a subprocess with its own state folder."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.defs import build_definitions
from lamini_assets.schema import INSTRUCTION_SOURCES

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the whole graph: training and evaluation of two students included
def test_demo_materialises_every_asset_and_prints_summary(state_dir: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "lamini_assets.demo"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "exact duplicates removed" in completed.stdout
    # Teacher steps show their progress although the console hides Dagster's INFO lines.
    assert re.search(r"teacher: \d+/\d+ done \(0 failed\), [\d.]+ calls/s, ETA", completed.stdout)
    assert str(state_dir / "lamini.duckdb") in completed.stdout
    assert "Teacher:       deterministic offline stand-in, not a language model" in completed.stdout
    (report_line,) = [line for line in completed.stdout.splitlines() if line.startswith("Diversity:")]
    report = Path(report_line.split()[1])
    assert report.is_file() and report.parent.parent == state_dir / "artifacts" / "diversity"

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        pools = dict(conn.execute("select seed_source, count(*) from seed_instructions group by 1").fetchall())
        duplicates = conn.execute("select count(*) from seed_duplicates").fetchone()[0]
        dataset = dict(conn.execute("select instruction_source, count(*) from lamini_dataset group by 1").fetchall())
        unanswered = conn.execute("select count(*) from responses where response is null").fetchone()[0]
    assert set(pools) == {"self_instruct", "alpaca", "p3", "flan"} and min(pools.values()) > 0
    assert duplicates > 0  # the sample has planted duplicates
    assert set(dataset) == set(INSTRUCTION_SOURCES) and min(dataset.values()) > 0
    assert unanswered == 0
    version = (state_dir / "artifacts" / "lamini_dataset" / "latest").read_text()
    exports = state_dir / "artifacts" / "lamini_dataset" / version
    assert {path.name for path in exports.iterdir()} == {"lamini_dataset.parquet", "hf_dataset", "alpaca_format.json", "dataset_card.md"}
    assert f"Dataset:       version {version}" in completed.stdout

    # Every asset of the graph has a materialisation recorded in the instance the UI reads.
    instance = dg.DagsterInstance.from_config(os.environ["DAGSTER_HOME"])

    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert instance.get_latest_materialization_event(key) is not None, key
